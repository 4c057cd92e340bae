package io.streamhouse.lease.operator;

import jakarta.inject.Singleton;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * When lease holders last changed. During a failover or a drain of a thousand leases the API
 * server takes the StreamAgents' lease lists and the leases' statuses (one write per moved lease),
 * so Events, which only inform, wait until such a burst has settled instead of competing with
 * them. (StreamAgent lease counts used to wait too; since agents learn from the database, the
 * StreamAgents are where Kubernetes shows leadership first, and they are written at once.)
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
