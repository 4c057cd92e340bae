package io.streamhouse.lease.operator;

import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseStatus;
import io.streamhouse.lease.store.Lease;
import java.time.Instant;

/**
 * Builds PartitionLease status as a projection of the lease row. Plain Java: every rule about
 * what a person sees in {@code kubectl get} lives here.
 */
final class LeaseStatuses {

    private LeaseStatuses() {
    }

    /** The row says who holds it; {@code unheldReason}/{@code unheldMessage} explain when nobody validly does. */
    static PartitionLeaseStatus fromRow(PartitionLeaseStatus previous, long generation, String boundKey, Lease row,
                                        String unheldReason, String unheldMessage, Instant now) {
        PartitionLeaseStatus next = base(previous, generation, boundKey);
        next.setHolder(row.holder() == null ? null : row.holder().value());
        next.setEpoch(row.epoch());
        next.setTransitions(row.epoch());
        next.setPreviousHolder(row.previousHolder() == null ? null : row.previousHolder().value());
        next.setAcquiredAt(row.acquiredAt() == null ? null : row.acquiredAt().toString());
        if (row.isHeld()) {
            next.setPhase(PartitionLeasePhase.Held);
            String message = "held by " + row.holder() + " at epoch " + row.epoch();
            Conditions.set(next, previous, Conditions.HELD, true, Conditions.LEASE_ACQUIRED, message, now);
            Conditions.set(next, previous, Conditions.READY, true, Conditions.LEASE_ACQUIRED, message, now);
        } else {
            next.setPhase(PartitionLeasePhase.Unassigned);
            Conditions.set(next, previous, Conditions.HELD, false, unheldReason, unheldMessage, now);
            Conditions.set(next, previous, Conditions.READY, false, unheldReason, unheldMessage, now);
        }
        return next;
    }

    /** {@code held}, showing that its holder is asked to hand it to {@code to} (requested at {@code requestedAt}). */
    static PartitionLeaseStatus withHandoff(PartitionLeaseStatus held, String to, Instant requestedAt) {
        PartitionLeaseStatus next = copy(held);
        next.setObservedGeneration(held.getObservedGeneration());
        next.setHandoffTo(to);
        next.setHandoffRequestedAt(requestedAt.toString());
        return next;
    }

    /** The resource is refused (invalid or a duplicate): it shows no holder and never touches the row. */
    static PartitionLeaseStatus refused(PartitionLeaseStatus previous, long generation, String boundKey,
                                        PartitionLeasePhase phase, String reason, String message, Instant now) {
        PartitionLeaseStatus next = base(previous, generation, boundKey);
        next.setPhase(phase);
        Conditions.set(next, previous, Conditions.HELD, false, reason, message, now);
        Conditions.set(next, previous, Conditions.READY, false, reason, message, now);
        return next;
    }

    /**
     * The store cannot be reached: keep the last truth (holder, epoch) and say so in Ready; Held
     * is left as it was, since we cannot know better.
     */
    static PartitionLeaseStatus storeUnavailable(PartitionLeaseStatus previous, long generation, String message,
                                                 Instant now) {
        PartitionLeaseStatus next = copy(previous);
        next.setObservedGeneration(previous == null ? null : previous.getObservedGeneration());
        Conditions.set(next, previous, Conditions.READY, false, Conditions.STORE_UNAVAILABLE, message, now);
        return next;
    }

    private static PartitionLeaseStatus base(PartitionLeaseStatus previous, long generation, String boundKey) {
        PartitionLeaseStatus next = new PartitionLeaseStatus();
        next.setObservedGeneration(generation);
        next.setBoundKey(boundKey);
        if (previous != null) {
            next.setConditions(previous.getConditions());
        }
        return next;
    }

    private static PartitionLeaseStatus copy(PartitionLeaseStatus previous) {
        PartitionLeaseStatus next = new PartitionLeaseStatus();
        if (previous != null) {
            next.setHolder(previous.getHolder());
            next.setEpoch(previous.getEpoch());
            next.setTransitions(previous.getTransitions());
            next.setPreviousHolder(previous.getPreviousHolder());
            next.setAcquiredAt(previous.getAcquiredAt());
            next.setPhase(previous.getPhase());
            next.setBoundKey(previous.getBoundKey());
            next.setHandoffTo(previous.getHandoffTo());
            next.setHandoffRequestedAt(previous.getHandoffRequestedAt());
            next.setConditions(previous.getConditions());
        }
        return next;
    }
}
