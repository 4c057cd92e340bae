package io.streamhouse.lease.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.testing.Registrations;
import io.streamhouse.lease.testing.StoreDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Concurrency: the CAS has one winner per epoch, and a stale writer never commits. */
@org.junit.jupiter.api.extension.ExtendWith(io.streamhouse.lease.testing.DumpThreadsOnTimeout.class)
class LeaseStoreRaceTest {

    static final int THREADS = 8;
    @RegisterExtension
    static final StoreDatabase db = new StoreDatabase("race", THREADS + 4,
            List.of("CREATE TABLE fenced_log (id bigserial, writer text NOT NULL, seq integer NOT NULL, epoch bigint NOT NULL)"),
            List.of("fenced_log"));
    static HikariDataSource dataSource;
    static PostgresLeaseStore store;

    final LeaseKey key = LeaseKey.of("contended", 0);

    @BeforeEach
    void useTheDatabase() {
        dataSource = db.dataSource();
        store = db.store();
    }

    List<Session> registerAgents(int n) {
        List<Session> sessions = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            sessions.add(store.register(Registrations.registration(AgentId.of("racer-" + i), Duration.ofMinutes(5))));
        }
        return sessions;
    }

    @Test
    void everyEpochHasExactlyOneWinnerWhenAllContendInLockstep() throws Exception {
        List<Session> agents = registerAgents(THREADS);
        int rounds = 150;
        CyclicBarrier start = new CyclicBarrier(THREADS);
        CyclicBarrier seen = new CyclicBarrier(THREADS); // everyone read the same state before any CAS
        CyclicBarrier end = new CyclicBarrier(THREADS);
        Map<Long, List<AgentId>> winnersByEpoch = new ConcurrentHashMap<>();

        runOnThreads(agents, (me, random) -> {
            for (int round = 0; round < rounds; round++) {
                start.await(30, TimeUnit.SECONDS);
                Lease current = store.lease(key).orElse(Lease.unknown(key));
                seen.await(30, TimeUnit.SECONDS);
                if (!me.agent().equals(current.holder())) {
                    AcquireRequest request = current.holder() == null
                            ? AcquireRequest.ifFree(key, me.agent(), me.sessionEpoch())
                            : AcquireRequest.takeOver(key, me.agent(), me.sessionEpoch(), current.holder(), current.epoch());
                    AcquireResult result = store.acquire(request, "Race");
                    if (result.outcome() == AcquireResult.Outcome.ACQUIRED) {
                        winnersByEpoch.computeIfAbsent(result.lease().epoch(), e -> new java.util.concurrent.CopyOnWriteArrayList<>())
                                .add(me.agent());
                    }
                }
                end.await(30, TimeUnit.SECONDS);
            }
        });

        assertThat(winnersByEpoch.keySet()).as("one new epoch per round, no gaps")
                .containsExactlyInAnyOrderElementsOf(range(1, rounds));
        assertThat(winnersByEpoch.values()).allSatisfy(w -> assertThat(w).hasSize(1));
        assertHistoryIsAChain(rounds);
    }

    @Test
    void epochsNeverRepeatOrSkipWhenAgentsContendFreely() throws Exception {
        List<Session> agents = registerAgents(THREADS);
        int target = 400;
        Map<Long, AgentId> winners = new ConcurrentHashMap<>();
        AtomicInteger duplicates = new AtomicInteger();

        runOnThreads(agents, (me, random) -> {
            while (true) {
                Lease seen = store.lease(key).orElse(Lease.unknown(key));
                if (seen.epoch() >= target) {
                    return;
                }
                if (me.agent().equals(seen.holder())) {
                    continue;
                }
                // Half of the attempts use a deliberately stale expectation: they must all fail.
                long expectedEpoch = random.nextBoolean() ? seen.epoch() : Math.max(1, seen.epoch() - 1);
                AcquireRequest request = seen.holder() == null
                        ? AcquireRequest.ifFree(key, me.agent(), me.sessionEpoch())
                        : AcquireRequest.takeOver(key, me.agent(), me.sessionEpoch(), seen.holder(), expectedEpoch);
                AcquireResult result = store.acquire(request, "Race");
                if (result.outcome() == AcquireResult.Outcome.ACQUIRED
                        && winners.putIfAbsent(result.lease().epoch(), me.agent()) != null) {
                    duplicates.incrementAndGet();
                }
            }
        });

        assertThat(duplicates).hasValue(0);
        long last = store.lease(key).orElseThrow().epoch();
        assertThat(winners.keySet()).containsExactlyInAnyOrderElementsOf(range(1, (int) last));
        assertHistoryIsAChain((int) last);
    }

    @Test
    void aWriterWithAStaleEpochNeverCommitsWhileTakeoversRace() throws Exception {
        int writers = 4;
        int takeovers = 40;
        List<Session> agents = registerAgents(writers);
        store.acquire(AcquireRequest.ifFree(key, agents.get(0).agent(), agents.get(0).sessionEpoch()), "Race");

        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger committed = new AtomicInteger();
        AtomicInteger rejected = new AtomicInteger();
        Map<String, List<Integer>> acked = new ConcurrentHashMap<>();
        ExecutorService pool = Executors.newFixedThreadPool(writers + 1);
        List<Future<?>> running = new ArrayList<>();
        for (Session me : agents) {
            running.add(pool.submit(() -> {
                SplittableRandom random = new SplittableRandom(me.agent().hashCode());
                List<Integer> mine = new ArrayList<>();
                acked.put(me.agent().value(), mine);
                long myEpoch = 0; // what this writer believes, like an agent fed by a watch
                int seq = 0;
                while (!stop.get()) {
                    if (myEpoch == 0 || random.nextInt(4) == 0) {
                        Lease seen = store.lease(key).orElseThrow();
                        if (me.agent().equals(seen.holder())) {
                            myEpoch = seen.epoch();
                        }
                    }
                    if (myEpoch == 0) {
                        continue;
                    }
                    int thisSeq = ++seq;
                    long epoch = myEpoch;
                    try {
                        store.fenced(key, me.agent(), me.sessionEpoch(), epoch, c -> {
                            try (PreparedStatement ps = c.prepareStatement(
                                    "INSERT INTO fenced_log (writer, seq, epoch) VALUES (?, ?, ?)")) {
                                ps.setString(1, me.agent().value());
                                ps.setInt(2, thisSeq);
                                ps.setLong(3, epoch);
                                return ps.executeUpdate();
                            }
                        });
                        mine.add(thisSeq); // acknowledged only once the commit returned
                        committed.incrementAndGet();
                    } catch (FencingException e) {
                        rejected.incrementAndGet();
                        myEpoch = 0;
                    }
                }
                return null;
            }));
        }
        running.add(pool.submit(() -> {
            for (int i = 0; i < takeovers; i++) {
                int before = committed.get();
                // Let the current holder write a little before it is overthrown.
                await().atMost(Duration.ofSeconds(30)).until(() -> committed.get() >= before + 3);
                Lease current = store.lease(key).orElseThrow();
                Session next = agents.get((agents.indexOf(sessionOf(agents, current.holder())) + 1) % writers);
                AcquireResult moved = store.acquire(AcquireRequest.takeOver(key, next.agent(), next.sessionEpoch(),
                        current.holder(), current.epoch()), "Takeover");
                assertThat(moved.outcome()).isEqualTo(AcquireResult.Outcome.ACQUIRED);
            }
            stop.set(true);
            return null;
        }));
        try {
            for (Future<?> f : running) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            stop.set(true);
            pool.shutdownNow();
        }

        assertThat(store.lease(key).orElseThrow().epoch()).isEqualTo(takeovers + 1);
        assertThat(rejected.get()).as("the race produced stale writers").isPositive();
        List<String> violations = FencingChecker.violations(dataSource, key, acked);
        assertThat(violations).isEmpty();
        System.out.printf("fencing race: %d takeovers, %d commits, %d stale writes rejected%n",
                takeovers, committed.get(), rejected.get());
    }

    @Test
    void theCheckerCatchesAStaleCommit() throws SQLException {
        List<Session> agents = registerAgents(2);
        Session a = agents.get(0);
        Session b = agents.get(1);
        store.acquire(AcquireRequest.ifFree(key, a.agent(), a.sessionEpoch()), "Race");
        store.fenced(key, a.agent(), a.sessionEpoch(), 1, c -> insertLog(c, a.agent().value(), 1, 1));
        store.acquire(AcquireRequest.takeOver(key, b.agent(), b.sessionEpoch(), a.agent(), 1), "Takeover");
        // An unfenced write with the old epoch, committed after the takeover: what fencing prevents.
        try (Connection c = dataSource.getConnection()) {
            insertLog(c, a.agent().value(), 2, 1);
        }

        List<String> violations = FencingChecker.violations(dataSource, key,
                Map.of(a.agent().value(), List.of(1, 2, 3)));

        assertThat(violations).anySatisfy(v -> assertThat(v).contains("committed after epoch 2"));
        assertThat(violations).anySatisfy(v -> assertThat(v).contains("racer-0 seq 3 acknowledged but missing"));
    }

    static int insertLog(Connection c, String writer, int seq, long epoch) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO fenced_log (writer, seq, epoch) VALUES (?, ?, ?)")) {
            ps.setString(1, writer);
            ps.setInt(2, seq);
            ps.setLong(3, epoch);
            return ps.executeUpdate();
        }
    }

    /** Checks the written rows against the lease history, ordering commits by commit timestamp. */
    static final class FencingChecker {

        static List<String> violations(HikariDataSource ds, LeaseKey key, Map<String, List<Integer>> acked)
                throws SQLException {
            List<String> violations = new ArrayList<>();
            Map<Long, Instant> takeoverCommit = new HashMap<>();
            Map<Long, String> holderAt = new HashMap<>();
            try (Connection c = ds.getConnection()) {
                try (PreparedStatement ps = c.prepareStatement("SELECT epoch, to_holder,"
                        + " pg_xact_commit_timestamp(xmin) FROM lease_history"
                        + " WHERE topic = ? AND partition = ? AND to_holder IS NOT NULL")) {
                    ps.setString(1, key.topic());
                    ps.setInt(2, key.partition());
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            takeoverCommit.put(rs.getLong(1), rs.getTimestamp(3).toInstant());
                            holderAt.put(rs.getLong(1), rs.getString(2));
                        }
                    }
                }
                Map<String, Set<Integer>> present = new HashMap<>();
                try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(
                        "SELECT writer, seq, epoch, pg_xact_commit_timestamp(xmin) FROM fenced_log ORDER BY id")) {
                    while (rs.next()) {
                        String writer = rs.getString(1);
                        int seq = rs.getInt(2);
                        long epoch = rs.getLong(3);
                        Instant commitAt = rs.getTimestamp(4).toInstant();
                        present.computeIfAbsent(writer, w -> new java.util.HashSet<>()).add(seq);
                        if (!writer.equals(holderAt.get(epoch))) {
                            violations.add(writer + " seq " + seq + " wrote at epoch " + epoch
                                    + " held by " + holderAt.get(epoch));
                        }
                        Instant next = takeoverCommit.get(epoch + 1);
                        if (next != null && commitAt.isAfter(next)) {
                            violations.add(writer + " seq " + seq + " at epoch " + epoch
                                    + " committed after epoch " + (epoch + 1) + " began");
                        }
                        Instant own = takeoverCommit.get(epoch);
                        if (own != null && commitAt.isBefore(own)) {
                            violations.add(writer + " seq " + seq + " committed before epoch " + epoch + " began");
                        }
                    }
                }
                acked.forEach((writer, seqs) -> {
                    for (int seq : List.copyOf(seqs)) {
                        if (!present.getOrDefault(writer, Set.of()).contains(seq)) {
                            violations.add(writer + " seq " + seq + " acknowledged but missing");
                        }
                    }
                });
            }
            return violations;
        }
    }

    interface Contender {
        void run(Session me, SplittableRandom random) throws Exception;
    }

    static void runOnThreads(List<Session> agents, Contender body) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(agents.size());
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (Session me : agents) {
                futures.add(pool.submit(() -> {
                    body.run(me, new SplittableRandom(me.agent().hashCode()));
                    return null;
                }));
            }
            // A thread that fails breaks the barriers of the others: report its failure, not theirs.
            Exception first = null;
            for (Future<?> f : futures) {
                try {
                    f.get(120, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    if (first == null || first.getCause() instanceof java.util.concurrent.BrokenBarrierException) {
                        first = e;
                    }
                }
            }
            if (first != null) {
                throw first;
            }
        } finally {
            pool.shutdownNow();
        }
    }

    void assertHistoryIsAChain(int lastEpoch) {
        List<HistoryEntry> history = store.history(key);
        assertThat(history).extracting(HistoryEntry::epoch).containsExactlyElementsOf(range(1, lastEpoch));
        for (int i = 1; i < history.size(); i++) {
            assertThat(history.get(i).from()).as("epoch %d starts where %d ended", i + 1, i)
                    .isEqualTo(history.get(i - 1).to());
        }
    }

    static Session sessionOf(List<Session> sessions, AgentId agent) {
        return sessions.stream().filter(s -> s.agent().equals(agent)).findFirst().orElseThrow();
    }

    static List<Long> range(int from, int to) {
        List<Long> values = new ArrayList<>();
        for (long e = from; e <= to; e++) {
            values.add(e);
        }
        return values;
    }
}
