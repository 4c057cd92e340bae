package io.streamhouse.lease.operator;

import jakarta.inject.Singleton;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * When lease holders last changed. A failover or a drain of a thousand leases is bounded by how
 * fast the API server takes writes (two per moved lease: holder label and status), so the writes
 * that only inform (lease counts on StreamAgents, Events) wait until such a burst has settled
 * instead of competing with it. Measured on a real API server (bench/assign-bench.sh --real-api):
 * they were a quarter of the writes during a crash at 10,000 leases.
 */
@Singleton
public class LeaseActivity {

    /** Quiet time after the last move before a burst counts as settled. */
    static final Duration SETTLE = Duration.ofSeconds(1);

    private final LongSupplier nanoClock;
    private final AtomicLong lastMove;

    public LeaseActivity() {
        this(System::nanoTime);
    }

    /** {@code nanoClock}: a monotonic clock in nanoseconds (tests drive it by hand). */
    LeaseActivity(LongSupplier nanoClock) {
        this.nanoClock = nanoClock;
        this.lastMove = new AtomicLong(nanoClock.getAsLong() - SETTLE.toNanos());
    }

    /** A lease changed holder (or is about to have that written). */
    void moved() {
        lastMove.set(nanoClock.getAsLong());
    }

    /** How long until {@link #SETTLE} has passed since the last move; zero when it has. */
    Duration untilSettled() {
        long left = lastMove.get() + SETTLE.toNanos() - nanoClock.getAsLong();
        return left <= 0 ? Duration.ZERO : Duration.ofNanos(left);
    }
}
