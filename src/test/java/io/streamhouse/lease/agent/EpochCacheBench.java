package io.streamhouse.lease.agent;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.AcquireRequest;
import io.streamhouse.lease.store.AgentRegistration;
import io.streamhouse.lease.store.Database;
import io.streamhouse.lease.store.LocalPostgres;
import io.streamhouse.lease.store.PostgresLeaseStore;
import io.streamhouse.lease.store.Validation;
import io.streamhouse.lease.testing.Registrations;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The agent library's hot path, {@link LeaseClient#epoch} (which is {@link HeldLeases#epoch}),
 * for a held and an unheld partition among 1,000 held ones, alone and from two threads; and,
 * side by side in the same run, what it replaces: asking PostgreSQL ({@code validateEpoch}).
 *
 * <p>Run: {@code bench/epoch-bench.sh} (JMH; prints ns/op for each).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class EpochCacheBench {

    static final int TOPICS = 10;
    static final int PARTITIONS = 100;
    static final String[] NAMES = new String[TOPICS];

    static {
        for (int t = 0; t < TOPICS; t++) {
            NAMES[t] = "orders-" + t;
        }
    }

    HeldLeases held;

    @Setup
    public void fill() {
        SessionGuard guard = new SessionGuard(Duration.ofHours(1), Duration.ofSeconds(1));
        guard.confirmed(System.nanoTime());
        held = new HeldLeases(System::nanoTime);
        held.session(1, guard);
        for (int t = 0; t < TOPICS; t++) {
            for (int p = 0; p < PARTITIONS; p++) {
                held.put(new HeldLeases.Held(LeaseKey.of(NAMES[t], p), 7, 1));
            }
        }
    }

    /** Which partition each call asks for: a different one each time, as a busy agent would. */
    @State(Scope.Thread)
    public static class Cursor {
        int i;

        int next() {
            return i = (i + 1) & 1023;
        }
    }

    @Benchmark
    public long epochHeld(Cursor c) {
        int n = c.next() % (TOPICS * PARTITIONS);
        return held.epoch(NAMES[n % TOPICS], n / TOPICS);
    }

    @Benchmark
    public long epochNotHeld(Cursor c) {
        int n = c.next();
        return held.epoch(NAMES[n % TOPICS], PARTITIONS + n);
    }

    @Benchmark
    @Threads(2)
    public long epochHeldTwoThreads(Cursor c) {
        return epochHeld(c);
    }

    /** The database round trip the cache saves: one real PostgreSQL, on this machine. */
    @State(Scope.Benchmark)
    public static class Postgres {
        LocalPostgres pg;
        HikariDataSource ds;
        PostgresLeaseStore store;
        final AgentId agent = AgentId.of("bench-agent");

        @Setup(Level.Trial)
        public void start() {
            pg = LocalPostgres.start(null);
            ds = Database.pool(new Database.PoolSettings(pg.jdbcUrl("postgres"), "postgres", "postgres", 2,
                    Duration.ofSeconds(5)));
            Database.migrate(ds);
            store = new PostgresLeaseStore(ds);
            long session = store.register(Registrations.registration(agent, Duration.ofHours(1)))
                    .sessionEpoch();
            store.acquire(AcquireRequest.ifFree(LeaseKey.of("orders-0", 0), agent, session), "Assigned");
        }

        @TearDown(Level.Trial)
        public void stop() {
            ds.close();
            pg.close();
        }
    }

    @Benchmark
    public Validation validateEpochInTheDatabase(Postgres db) {
        return db.store.validate(LeaseKey.of("orders-0", 0), db.agent, 1, 1);
    }
}
