package io.streamhouse.lease.store;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * Outcome of a compare-and-swap, with the lease as it stands after it.
 *
 * @param unheldSince for {@code ACQUIRED} only (else null): since when, on the database clock, the
 *                    partition had had no valid holder (its holder's session ended or expired, or
 *                    it was released); the commit time when a live holder was taken over; null too
 *                    for a partition never held before (see V9__unheld_since.sql)
 */
public record AcquireResult(Outcome outcome, Lease lease, Instant unheldSince) {

    public AcquireResult(Outcome outcome, Lease lease) {
        this(outcome, lease, null);
    }

    /** How long the partition went without a valid holder before this acquire took it; empty when unknown or not acquired. */
    public Optional<Duration> unheldFor() {
        if (outcome != Outcome.ACQUIRED || unheldSince == null || lease.acquiredAt() == null) {
            return Optional.empty();
        }
        Duration gap = Duration.between(unheldSince, lease.acquiredAt());
        return Optional.of(gap.isNegative() ? Duration.ZERO : gap);
    }

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
