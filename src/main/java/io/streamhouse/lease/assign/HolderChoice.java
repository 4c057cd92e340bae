package io.streamhouse.lease.assign;

import io.streamhouse.lease.model.AgentId;

/**
 * Turns the plan's holder for one lease into what the reconciler does: keep, acquire (free or
 * expired), take over from a live holder (a planned move), or report that nobody can hold it.
 * Pure and deterministic.
 */
public final class HolderChoice {

    private HolderChoice() {
    }

    /** What to do with one lease. */
    public sealed interface Decision {
        /** The current holder stays. */
        record Keep() implements Decision {
        }

        /**
         * Give the lease to {@code target}. {@code takeOver} is true when the current holder is
         * live (a planned move: the CAS must name it and its epoch), false when the lease is free
         * or its holder's session is dead.
         */
        record Acquire(AgentView target, boolean takeOver) implements Decision {
        }

        /** No agent may take it; it stays where it is (possibly nowhere). */
        record NoEligibleAgent() implements Decision {
        }
    }

    /**
     * What to do to bring one lease to its planned holder.
     *
     * @param target     the plan's holder for the lease (see {@link Assigner}), or null
     * @param holder     current holder from the database, or null
     * @param holderLive whether the holder's session is alive (database clock)
     */
    public static Decision toward(AgentView target, AgentId holder, boolean holderLive) {
        if (target == null) {
            // Nobody may take it; a live holder (say, draining with nowhere to go) keeps writing.
            return holder != null && holderLive ? new Decision.Keep() : new Decision.NoEligibleAgent();
        }
        if (target.id().equals(holder) && holderLive) {
            return new Decision.Keep();
        }
        // A live holder is moved by a takeover naming it and its epoch; otherwise the lease is
        // free, or its holder's session died (possibly the same agent, back as a new incarnation).
        return new Decision.Acquire(target, holder != null && holderLive);
    }
}
