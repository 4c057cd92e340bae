package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;

/**
 * Answer to "may this agent write with this epoch?", judged against the lease row.
 *
 * @param currentHolder the row's holder (null if none)
 * @param currentEpoch  the row's epoch (0 if the partition was never held)
 */
public record Validation(Status status, AgentId currentHolder, long currentEpoch) {

    public enum Status {
        /** Holder, epoch and session all match: the write may proceed. */
        VALID,
        /** The caller's epoch is older than the current one: someone took over since. */
        STALE_EPOCH,
        /** Holder and epoch match but the holder's session is no longer alive. */
        EXPIRED,
        /** The caller does not hold this partition at this epoch (released, or never held). */
        NOT_HOLDER
    }

    public boolean isValid() {
        return status == Status.VALID;
    }

    /** The one place where a lease row is judged against a caller's claim. */
    static Validation judge(Lease lease, AgentId agent, long epoch) {
        Status status;
        if (epoch < lease.epoch()) {
            status = Status.STALE_EPOCH;
        } else if (epoch > lease.epoch() || lease.holder() == null || !lease.holder().equals(agent)) {
            status = Status.NOT_HOLDER;
        } else if (!lease.holderLive()) {
            status = Status.EXPIRED;
        } else {
            status = Status.VALID;
        }
        return new Validation(status, lease.holder(), lease.epoch());
    }

    String describe(Object key, AgentId agent, long epoch) {
        String current = currentHolder == null
                ? "no holder at epoch " + currentEpoch
                : "held by " + currentHolder + " at epoch " + currentEpoch;
        return switch (status) {
            case VALID -> key + ": " + agent + " holds epoch " + epoch;
            case STALE_EPOCH -> key + ": stale epoch " + epoch + " for " + agent + " (" + current + ")";
            case EXPIRED -> key + ": session of " + agent + " expired (epoch " + epoch + ")";
            case NOT_HOLDER -> key + ": " + agent + " is not the holder at epoch " + epoch
                    + " (" + current + ")";
        };
    }
}
