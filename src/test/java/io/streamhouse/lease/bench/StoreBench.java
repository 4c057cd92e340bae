package io.streamhouse.lease.bench;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.AcquireRequest;
import io.streamhouse.lease.store.AcquireResult;
import io.streamhouse.lease.store.AgentRegistration;
import io.streamhouse.lease.store.Database;
import io.streamhouse.lease.store.DatabaseGrants;
import io.streamhouse.lease.store.LeaseStore;
import io.streamhouse.lease.store.LocalPostgres;
import io.streamhouse.lease.store.PostgresLeaseStore;
import io.streamhouse.lease.store.Renewal;
import io.streamhouse.lease.store.Session;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;

/**
 * Lease store throughput against the same SQL sent raw through JDBC, side by side in one run.
 *
 * <p>Raw = one dedicated connection per thread with its statements prepared once: the floor of
 * what the SQL costs. Store = the public {@link LeaseStore} API through the HikariCP pool. Rounds
 * alternate store and raw so both see the same machine noise; the median round is reported.
 *
 * <p>Run: {@code bench/store-bench.sh [threads] [seconds-per-round] [rounds]}.
 */
public final class StoreBench {

    private static final String ACQUIRE = "SELECT * FROM lease_acquire(?, ?, ?, ?, ?, ?, ?)";
    // The raw side sends the same protocol functions an agent in any language calls.
    private static final String RENEW = "SELECT lease_renew(?, ?)";
    private static final String FENCE = "SELECT lease_fence(?, ?, ?, ?, ?)";
    private static final String AGENT_LOGIN = "bench_agent";
    /** lease_fence as V3 made it: no identity check, run as the caller, the caller's search path. */
    private static final String FENCE_BEFORE_V8 = """
            CREATE FUNCTION bench_fence_v7(p_topic varchar, p_partition integer, p_agent varchar, p_session bigint,
                                           p_epoch bigint) RETURNS bigint
            LANGUAGE plpgsql AS $$
            DECLARE
                s agent_session%ROWTYPE;
                l partition_lease%ROWTYPE;
                refusal text;
                left_ms bigint;
            BEGIN
                IF current_setting('transaction_isolation') <> 'read committed' THEN
                    RAISE EXCEPTION USING ERRCODE = 'SH008', MESSAGE = 'not read committed';
                END IF;
                SELECT * INTO s FROM agent_session a WHERE a.agent_id = p_agent;
                left_ms := floor(extract(epoch FROM s.expires_at - clock_timestamp()) * 1000);
                IF s.session_epoch IS DISTINCT FROM p_session OR s.ended_at IS NOT NULL OR left_ms < 1 THEN
                    refusal := coalesce(lease_session_refusal(s, p_agent, p_session), 'SH004');
                    PERFORM lease_raise(refusal, 'session');
                END IF;
                PERFORM set_config('lock_timeout', left_ms || 'ms', true), set_config('statement_timeout', left_ms || 'ms', true),
                        set_config('idle_in_transaction_session_timeout', left_ms || 'ms', true),
                        set_config('synchronous_commit', 'on', true);
                SELECT * INTO l FROM partition_lease x WHERE x.topic = p_topic AND x.partition = p_partition FOR SHARE;
                IF NOT FOUND THEN
                    PERFORM lease_raise('SH006', 'never held');
                ELSIF p_epoch < l.epoch THEN
                    PERFORM lease_raise('SH002', 'stale');
                ELSIF p_epoch > l.epoch OR l.holder IS DISTINCT FROM p_agent OR l.holder_session IS DISTINCT FROM p_session THEN
                    PERFORM lease_raise('SH001', 'not the holder');
                END IF;
                INSERT INTO lease_fence_pending VALUES (p_agent, p_session, p_topic, p_partition, p_epoch);
                RETURN left_ms;
            END;
            $$
            """;
    private static final String INSERT = "INSERT INTO bench_write (partition, epoch, payload) VALUES (?, ?, ?)";

    private final int threads;
    private final Duration round;
    private final int rounds;
    private final String url;
    private final LeaseStore store;
    private final List<Session> agents = new ArrayList<>();
    private Session holderOf1000;
    // Who holds each CAS partition, carried across rounds and across the store and raw sides.
    private final List<CasState> casStates = new ArrayList<>();

    private StoreBench(int threads, Duration round, int rounds, String url, LeaseStore store) {
        this.threads = threads;
        this.round = round;
        this.rounds = rounds;
        this.url = url;
        this.store = store;
    }

    public static void main(String[] argv) throws Exception {
        // One comma-separated argument, so that Maven passes it through unchanged.
        String[] args = argv.length == 1 ? argv[0].split(",") : argv;
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 4;
        Duration round = Duration.ofSeconds(args.length > 1 ? Long.parseLong(args[1]) : 1);
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 15;
        // Durable commits (fsync on), as in production: the figures include the WAL flush.
        try (LocalPostgres pg = LocalPostgres.start(null, Map.of("fsync", "on", "max_connections", "100"))) {
            String url = pg.jdbcUrl("postgres");
            try (HikariDataSource pool = Database.pool(new Database.PoolSettings(url, "postgres", "postgres",
                    threads, Duration.ofSeconds(5)))) {
                Database.migrate(pool);
                try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
                    s.execute("CREATE TABLE bench_write (id bigserial PRIMARY KEY, partition int, epoch bigint,"
                            + " payload text)");
                    // The floor of any fence: a PL/pgSQL call that does nothing, with the fence's arguments.
                    s.execute("CREATE FUNCTION bench_noop(varchar, integer, varchar, bigint, bigint) RETURNS bigint"
                            + " LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END $$");
                    s.execute(FENCE_BEFORE_V8);
                    // An agent's own login (issue 18): the agent functions only, and its own table.
                    s.execute("CREATE ROLE bench_agents NOLOGIN");
                    s.execute("CREATE ROLE " + AGENT_LOGIN + " LOGIN IN ROLE bench_agents");
                    s.execute("GRANT INSERT ON bench_write TO bench_agents");
                    s.execute("GRANT USAGE ON SEQUENCE bench_write_id_seq TO bench_agents");
                }
                DatabaseGrants.grant(pool, "postgres", "bench_agents");
                StoreBench bench = new StoreBench(threads, round, rounds, url, new PostgresLeaseStore(pool));
                bench.run();
            }
        }
        System.exit(0); // the pool's and driver's background threads must not keep the JVM alive
    }

    private void run() throws Exception {
        System.out.printf("lease store bench: %d threads, %d rounds of %ds per side, PostgreSQL %s, %d cores%n",
                threads, rounds, round.toSeconds(), "embedded (fsync on)", Runtime.getRuntime().availableProcessors());
        for (int t = 0; t < 2 * threads; t++) {
            agents.add(store.register(new AgentRegistration(AgentId.of("bench-" + t), "default", "", "",
                    Duration.ofMinutes(10))));
        }
        holderOf1000 = store.register(new AgentRegistration(AgentId.of("bench-holder"), "default", "", "",
                Duration.ofMinutes(10)));
        List<AcquireRequest> thousand = new ArrayList<>();
        for (int p = 0; p < 1000; p++) {
            thousand.add(AcquireRequest.ifFree(LeaseKey.of("renewal", p), holderOf1000.agent(),
                    holderOf1000.sessionEpoch()));
        }
        store.acquireAll(thousand, "Bench");
        for (int t = 0; t < threads; t++) {
            Session a = agents.get(2 * t);
            store.acquire(AcquireRequest.ifFree(LeaseKey.of("fenced", t), a.agent(), a.sessionEpoch()), "Bench");
            store.mapAgent(a.agent(), AGENT_LOGIN);
        }

        for (int t = 0; t < threads; t++) {
            casStates.add(new CasState(t));
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(compare("CAS acquisitions/s (holder changes, epoch+1)", this::storeCas, this::rawCas));
        rows.add(compare("session renewals/s (1 agent, 1,000 partitions)", this::storeRenew, this::rawRenew));
        rows.add(compare("fenced commits/s (fence + insert + commit)", this::storeFenced, this::rawFenced));
        rows.add(compare("fenced commit vs the same insert unfenced", this::storeFenced, this::rawUnfenced));
        // Issue 18's price: the fence as an agent's own login (identity check, SECURITY DEFINER,
        // pinned search path) against the fence as it was before V8, both on raw connections.
        rows.add(compare("fence as its own login vs the fence before V8", (t, stop, ops) -> rawFenced(t, stop, ops,
                AGENT_LOGIN, FENCE), (t, stop, ops) -> rawFenced(t, stop, ops, "postgres", "SELECT bench_fence_v7(?, ?, ?, ?, ?)")));
        // What any fence must at least cost here: one more statement before the write. The fenced
        // path cannot beat these floors; they say how much of the row above is the protocol's own.
        rows.add(compare("floor: SELECT 1 first vs the same insert", (t, stop, ops) -> rawPrefixed(t, stop, ops,
                "SELECT 1"), this::rawUnfenced));
        rows.add(compare("floor: empty PL/pgSQL call first vs the same insert", (t, stop, ops) -> rawPrefixed(t, stop,
                ops, "SELECT bench_noop(?, ?, ?, ?, ?)"), this::rawUnfenced));

        System.out.println();
        System.out.printf("%-50s %12s %12s %8s%n", "operation", "store", "raw JDBC", "ratio");
        for (String[] r : rows) {
            System.out.printf("%-50s %12s %12s %8s%n", (Object[]) r);
        }
        System.out.println("ratio = store / raw: the median of the per-round ratios (each store round against the"
                + " raw round next to it, so that machine noise cancels); target >= 0.80. Row 4: what fencing costs a"
                + " write, the library's path against a plain INSERT + COMMIT; rows 5-6: the same write after one"
                + " statement that fences nothing, the floor under row 4");
        System.out.printf("one renewal keeps 1,000 partition leases alive: %s partition-renewals/s equivalent"
                + " (the earlier design wrote one row per partition)%n", rows.get(1)[1].isEmpty() ? "?" :
                String.format("%,d", Math.round(Double.parseDouble(rows.get(1)[1].replace(",", "")) * 1000)));
    }

    // ------------------------------------------------------------------ workloads

    /** A per-thread loop body; returns once {@code stop} answers true, counting operations. */
    private interface Body {
        void run(int thread, BooleanSupplier stop, LongAdder ops) throws Exception;
    }

    private String[] compare(String name, Body storeSide, Body rawSide) throws Exception {
        measure(storeSide, Duration.ofSeconds(1)); // warm-up: JIT, statement caches, pool
        measure(rawSide, Duration.ofSeconds(1));
        double[] s = new double[rounds];
        double[] r = new double[rounds];
        for (int i = 0; i < rounds; i++) {
            // Alternate which side goes first, so a drift in machine speed favours neither.
            if (i % 2 == 0) {
                s[i] = measure(storeSide, round);
                r[i] = measure(rawSide, round);
            } else {
                r[i] = measure(rawSide, round);
                s[i] = measure(storeSide, round);
            }
        }
        double store = median(s);
        double raw = median(r);
        double[] paired = new double[rounds];
        for (int i = 0; i < rounds; i++) {
            paired[i] = s[i] / r[i];
        }
        System.out.printf("%s: store %s | raw %s%n", name, Arrays.toString(rounded(s)), Arrays.toString(rounded(r)));
        return new String[] {name, String.format("%,.0f", store), String.format("%,.0f", raw),
                String.format("%.2f", median(paired))};
    }

    private double measure(Body body, Duration duration) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        LongAdder ops = new LongAdder();
        List<Future<?>> futures = new ArrayList<>();
        long start = System.nanoTime();
        long end = start + duration.toNanos();
        // Each worker stops itself at the end of the window; the caller just waits for them.
        BooleanSupplier stop = () -> System.nanoTime() >= end;
        for (int t = 0; t < threads; t++) {
            int thread = t;
            futures.add(pool.submit(() -> {
                body.run(thread, stop, ops);
                return null;
            }));
        }
        for (Future<?> f : futures) {
            f.get();
        }
        long elapsed = System.nanoTime() - start;
        pool.shutdown();
        return ops.sum() / (elapsed / 1e9);
    }

    // Each thread moves its own partitions back and forth between its two agents: every op is a
    // real holder change that bumps the epoch and appends history. Threads never contend.
    private void storeCas(int thread, BooleanSupplier stop, LongAdder ops) {
        Session[] pair = {agents.get(2 * thread), agents.get(2 * thread + 1)};
        CasState state = casStates.get(thread);
        while (!stop.getAsBoolean()) {
            LeaseKey key = LeaseKey.of("cas", state.partition());
            Session next = pair[state.nextIndex()];
            AcquireRequest request = state.holder() == null
                    ? AcquireRequest.ifFree(key, next.agent(), next.sessionEpoch())
                    : AcquireRequest.takeOver(key, next.agent(), next.sessionEpoch(), state.holder(), state.epoch());
            AcquireResult result = store.acquire(request, "Bench");
            state.moved(result.lease().holder(), result.lease().epoch(), result.outcome() == AcquireResult.Outcome.ACQUIRED);
            ops.increment();
        }
    }

    private void rawCas(int thread, BooleanSupplier stop, LongAdder ops) throws SQLException {
        Session[] pair = {agents.get(2 * thread), agents.get(2 * thread + 1)};
        CasState state = casStates.get(thread);
        try (Connection c = DriverManager.getConnection(url, "postgres", "postgres");
             PreparedStatement ps = c.prepareStatement(ACQUIRE)) {
            while (!stop.getAsBoolean()) {
                Session next = pair[state.nextIndex()];
                ps.setString(1, "cas");
                ps.setInt(2, state.partition());
                ps.setString(3, next.agent().value());
                ps.setLong(4, next.sessionEpoch());
                if (state.holder() == null) {
                    ps.setNull(5, Types.VARCHAR);
                    ps.setNull(6, Types.BIGINT);
                } else {
                    ps.setString(5, state.holder().value());
                    ps.setLong(6, state.epoch());
                }
                ps.setString(7, "Bench");
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    state.moved(AgentId.of(rs.getString("holder")), rs.getLong("epoch"),
                            "ACQUIRED".equals(rs.getString("outcome")));
                }
                ops.increment();
            }
        }
    }

    /** Which partition a thread works on next and who holds it; 64 partitions per thread. */
    private static final class CasState {
        private final int base;
        private final AgentId[] holders = new AgentId[64];
        private final long[] epochs = new long[64];
        private int cursor;

        CasState(int thread) {
            this.base = thread * 64;
        }

        int partition() {
            return base + cursor;
        }

        AgentId holder() {
            return holders[cursor];
        }

        long epoch() {
            return epochs[cursor];
        }

        int nextIndex() {
            return (int) (epochs[cursor] % 2);
        }

        void moved(AgentId holder, long epoch, boolean acquired) {
            if (!acquired) {
                throw new IllegalStateException("bench CAS failed on partition " + partition() + ": " + holder);
            }
            holders[cursor] = holder;
            epochs[cursor] = epoch;
            cursor = (cursor + 1) % holders.length;
        }
    }

    private void storeRenew(int thread, BooleanSupplier stop, LongAdder ops) {
        while (!stop.getAsBoolean()) {
            if (store.renew(holderOf1000.agent(), holderOf1000.sessionEpoch()) != Renewal.RENEWED) {
                throw new IllegalStateException("renewal refused");
            }
            ops.increment();
        }
    }

    private void rawRenew(int thread, BooleanSupplier stop, LongAdder ops) throws SQLException {
        try (Connection c = DriverManager.getConnection(url, "postgres", "postgres");
             PreparedStatement ps = c.prepareStatement(RENEW)) {
            while (!stop.getAsBoolean()) {
                ps.setString(1, holderOf1000.agent().value());
                ps.setLong(2, holderOf1000.sessionEpoch());
                ps.executeQuery().close(); // raises when refused
                ops.increment();
            }
        }
    }

    private void storeFenced(int thread, BooleanSupplier stop, LongAdder ops) {
        Session me = agents.get(2 * thread);
        LeaseKey key = LeaseKey.of("fenced", thread);
        while (!stop.getAsBoolean()) {
            store.fenced(key, me.agent(), me.sessionEpoch(), 1, c -> {
                try (PreparedStatement ps = c.prepareStatement(INSERT)) {
                    ps.setInt(1, thread);
                    ps.setLong(2, 1);
                    ps.setString(3, "payload");
                    return ps.executeUpdate();
                }
            });
            ops.increment();
        }
    }

    private void rawFenced(int thread, BooleanSupplier stop, LongAdder ops) throws SQLException {
        rawFenced(thread, stop, ops, "postgres", FENCE);
    }

    /** The fenced write on a connection of its own, logged in as {@code login}, fenced by {@code fenceSql}. */
    private void rawFenced(int thread, BooleanSupplier stop, LongAdder ops, String login, String fenceSql)
            throws SQLException {
        Session me = agents.get(2 * thread);
        // Without the embedded server's ?user=postgres, which would win over the login.
        try (Connection c = DriverManager.getConnection(url.replaceAll("\\?.*", ""), login, null);
             PreparedStatement fence = c.prepareStatement(fenceSql);
             PreparedStatement insert = c.prepareStatement(INSERT)) {
            c.setAutoCommit(false);
            while (!stop.getAsBoolean()) {
                fence.setString(1, "fenced");
                fence.setInt(2, thread);
                fence.setString(3, me.agent().value());
                fence.setLong(4, me.sessionEpoch());
                fence.setLong(5, 1);
                fence.executeQuery().close(); // raises when refused
                insert.setInt(1, thread);
                insert.setLong(2, 1);
                insert.setString(3, "payload");
                insert.executeUpdate();
                c.commit();
                ops.increment();
            }
        }
    }

    /** The same INSERT and COMMIT after {@code first}, a statement that fences nothing. */
    private void rawPrefixed(int thread, BooleanSupplier stop, LongAdder ops, String first) throws SQLException {
        Session me = agents.get(2 * thread);
        boolean withArguments = first.contains("?");
        try (Connection c = DriverManager.getConnection(url, "postgres", "postgres");
             PreparedStatement prefix = c.prepareStatement(first);
             PreparedStatement insert = c.prepareStatement(INSERT)) {
            c.setAutoCommit(false);
            while (!stop.getAsBoolean()) {
                if (withArguments) {
                    prefix.setString(1, "fenced");
                    prefix.setInt(2, thread);
                    prefix.setString(3, me.agent().value());
                    prefix.setLong(4, me.sessionEpoch());
                    prefix.setLong(5, 1);
                }
                prefix.executeQuery().close();
                insert.setInt(1, thread);
                insert.setLong(2, 1);
                insert.setString(3, "payload");
                insert.executeUpdate();
                c.commit();
                ops.increment();
            }
        }
    }

    /** The same INSERT and COMMIT with no fence at all: what a write costs without leases. */
    private void rawUnfenced(int thread, BooleanSupplier stop, LongAdder ops) throws SQLException {
        try (Connection c = DriverManager.getConnection(url, "postgres", "postgres");
             PreparedStatement insert = c.prepareStatement(INSERT)) {
            c.setAutoCommit(false);
            while (!stop.getAsBoolean()) {
                insert.setInt(1, thread);
                insert.setLong(2, 1);
                insert.setString(3, "payload");
                insert.executeUpdate();
                c.commit();
                ops.increment();
            }
        }
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private static long[] rounded(double[] values) {
        return Arrays.stream(values).mapToLong(Math::round).toArray();
    }
}
