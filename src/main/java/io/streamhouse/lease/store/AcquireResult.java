package io.streamhouse.lease.store;

/** Outcome of a compare-and-swap, with the lease as it stands after it. */
public record AcquireResult(Outcome outcome, Lease lease) {

    public enum Outcome {
        /** The agent now holds the lease; the epoch grew by one. */
        ACQUIRED,
        /** The agent already held it with this session; nothing changed, epoch kept. */
        ALREADY_HELD,
        /** Someone else holds it with a live session and was not the expected holder. */
        HELD_BY_OTHER,
        /** The requesting agent's session is not alive (expired, ended, or superseded). */
        AGENT_NOT_LIVE,
        /**
         * In a batch only: a fenced writer (or another move) held the row, and a batch never
         * waits for one row, so nothing changed here; try again shortly. The lease shows the row
         * as last committed.
         */
        LOCKED
    }

    /** True when the requesting agent holds the lease after the call. */
    public boolean succeeded() {
        return outcome == Outcome.ACQUIRED || outcome == Outcome.ALREADY_HELD;
    }
}
