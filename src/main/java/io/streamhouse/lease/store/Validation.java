package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;

/**
 * Answer to "may this incarnation of an agent write with this epoch?", judged by the database
 * (lease_validate, or the fence's refusal).
 *
 * @param currentHolder the row's holder (null if none)
 * @param currentEpoch  the row's epoch (0 if the partition was never held)
 */
public record Validation(Status status, AgentId currentHolder, long currentEpoch) {

    public enum Status {
        /** Holder, incarnation, epoch and session all match: the write may proceed. */
        VALID,
        /** The caller's epoch is older than the current one: someone took over since. */
        STALE_EPOCH,
        /** Holder, incarnation and epoch match but the session is no longer alive (expired or ended). */
        EXPIRED,
        /** A newer incarnation of the same agent id has registered: this one must stop. */
        SUPERSEDED,
        /** This incarnation does not hold the partition at this epoch (released, moved, never held). */
        NOT_HOLDER
    }

    public boolean isValid() {
        return status == Status.VALID;
    }

    /**
     * The status a refusal of the protocol stands for (its SQLSTATE, README "The agent protocol
     * in SQL"), or null for any other SQLSTATE.
     */
    static Status ofSqlState(String sqlState) {
        if (sqlState == null) {
            return null;
        }
        return switch (sqlState) {
            case "SH001", "SH006", "SH007" -> Status.NOT_HOLDER;
            case "SH002" -> Status.STALE_EPOCH;
            case "SH003" -> Status.SUPERSEDED;
            case "SH004", "SH005" -> Status.EXPIRED;
            default -> null;
        };
    }

    String describe(Object key, AgentId agent, long session, long epoch) {
        String current = currentHolder == null
                ? "no holder at epoch " + currentEpoch
                : "held by " + currentHolder + " at epoch " + currentEpoch;
        String who = agent + " (session " + session + ")";
        return switch (status) {
            case VALID -> key + ": " + who + " holds epoch " + epoch;
            case STALE_EPOCH -> key + ": stale epoch " + epoch + " for " + who + " (" + current + ")";
            case EXPIRED -> key + ": session of " + who + " expired or ended (epoch " + epoch + ")";
            case SUPERSEDED -> key + ": " + who + " was superseded by a newer incarnation of " + agent;
            case NOT_HOLDER -> key + ": " + who + " is not the holder at epoch " + epoch + " (" + current + ")";
        };
    }
}
