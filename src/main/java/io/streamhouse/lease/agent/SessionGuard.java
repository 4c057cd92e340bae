package io.streamhouse.lease.agent;

import java.time.Duration;
import java.util.Objects;

/**
 * Until when this process may believe its session is alive, on the monotonic clock.
 *
 * <p>A renewal that succeeded was executed by the database after the moment we sent it, so the
 * session lives at least until {@code sent + ttl} on the database clock. We stop believing in it
 * {@code margin} earlier, to cover clock rate differences and the time between checking and
 * writing. Wall-clock steps cannot move this deadline ({@link System#nanoTime()} is monotonic),
 * and a process paused past it (a long GC) finds it passed on the first check after resuming.
 */
final class SessionGuard {

    private final long ttlNanos;
    private final long marginNanos;
    /** nanoTime after which the session is no longer known to be alive; valid only while {@code confirmed}. */
    private volatile long deadline;
    private volatile boolean confirmed;

    SessionGuard(Duration ttl, Duration margin) {
        Objects.requireNonNull(ttl, "ttl");
        Objects.requireNonNull(margin, "margin");
        if (margin.isNegative() || margin.compareTo(ttl.dividedBy(2)) > 0) {
            throw new IllegalArgumentException("safety margin must be between 0 and half the session timeout ("
                    + ttl + "), got " + margin);
        }
        this.ttlNanos = ttl.toNanos();
        this.marginNanos = margin.toNanos();
    }

    /** A renewal (or registration) sent at {@code sentNanos} was confirmed by the database. */
    void confirmed(long sentNanos) {
        deadline = sentNanos + ttlNanos - marginNanos;
        confirmed = true;
    }

    /** The session is lost or ended: nothing may be believed until the next confirmation. */
    void invalidate() {
        confirmed = false;
    }

    /** Whether the session is still known to be alive at {@code nowNanos}. The hot path: two volatile reads. */
    boolean isConfirmed(long nowNanos) {
        return confirmed && nowNanos - deadline < 0; // overflow-safe comparison of nanoTime values
    }

    /** Nanoseconds left before the deadline at {@code nowNanos} (negative once passed, or never confirmed). */
    long nanosLeft(long nowNanos) {
        return confirmed ? deadline - nowNanos : -1;
    }
}
