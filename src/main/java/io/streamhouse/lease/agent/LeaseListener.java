package io.streamhouse.lease.agent;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;

/**
 * What the agent library tells the application about its leases. Called one at a time, in
 * order, on the library's event thread: return quickly (hand heavy work to your own executor),
 * and never call {@link LeaseClient#close()} from here.
 */
public interface LeaseListener {

    /** This agent now holds {@code key}; writes must carry {@code epoch}. */
    default void acquired(LeaseKey key, long epoch) {
    }

    /**
     * This agent no longer holds {@code key} at {@code epoch}: stop writing it. By the time this
     * is called {@link LeaseClient#epoch} already answers {@link LeaseClient#NO_EPOCH} and the
     * database refuses the epoch (or will, for {@link Reason#SESSION_UNCONFIRMED}, before anyone
     * else can write).
     */
    default void revoked(LeaseKey key, long epoch, Reason reason) {
    }

    /**
     * The operator asks for {@code key} to be handed to {@code target} (a planned move: drain,
     * rebalance, cordon). Finish or abandon the write in flight, then return: the library then
     * releases the lease, and the target gets epoch + 1 at once. Not returning within the
     * operator's handoff timeout gets the lease moved anyway (the old epoch is fenced).
     */
    default void handoffRequested(LeaseKey key, long epoch, AgentId target) {
    }

    /**
     * The client stopped by itself and will not start again; every lease it held was revoked
     * first. {@link Reason#SUPERSEDED}: another process registered this agent id after this one
     * (a replacement, or a second process started with the same identity); the application should
     * stop its writers and exit or alert, not start a new client under the same identity.
     */
    default void stopped(Reason reason) {
    }

    /** Why a lease was revoked. */
    enum Reason {
        /** The operator moved it to another agent (or the database says we no longer hold it). */
        MOVED,
        /** Handed off at the operator's request. */
        HANDED_OFF,
        /** Released by this agent ({@link LeaseClient#release}, {@link LeaseClient#releaseAll}, close). */
        RELEASED,
        /** The session could not be renewed in time: stopped locally before the database could expire it. */
        SESSION_UNCONFIRMED,
        /** The database says the session expired or was ended: a new incarnation is registered. */
        SESSION_LOST,
        /**
         * A newer incarnation of this agent id registered (another process with the same id): this
         * client stops and does not register again, so that the newest process alone writes.
         */
        SUPERSEDED
    }
}
