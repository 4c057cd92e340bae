package io.streamhouse.lease.store;

import static io.streamhouse.lease.store.AcquireResult.Outcome.ACQUIRED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The interleavings the fence exists for, produced on purpose against a real PostgreSQL: a
 * second process with the same agent id, a writer parked inside its transaction past its
 * session's expiry, a lock nobody bounded, a renewal that waited on its row past the expiry, and
 * the SQL protocol's refusals as an agent in another language sees them.
 */
class FencingProtocolTest {

    @RegisterExtension
    static final StoreDatabase db = new StoreDatabase("fencing", 12,
            List.of("CREATE TABLE fenced_rows (writer text NOT NULL, session bigint NOT NULL, epoch bigint NOT NULL)"),
            List.of("fenced_rows"));
    static HikariDataSource dataSource;
    static PostgresLeaseStore store;
    final ExecutorService executor = Executors.newCachedThreadPool();

    final AgentId a = AgentId.of("agent-a");
    final AgentId b = AgentId.of("agent-b");
    final LeaseKey k0 = LeaseKey.of("fenced", 0);

    @BeforeEach
    void useTheDatabase() {
        dataSource = db.dataSource();
        store = db.store();
    }

    @AfterEach
    void stopThreads() {
        executor.shutdownNow();
    }

    Session register(AgentId agent, Duration ttl) {
        return store.register(Registrations.registration(agent, ttl));
    }

    static int insert(Connection c, AgentId writer, long session, long epoch) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO fenced_rows VALUES (?, ?, ?)")) {
            ps.setString(1, writer.value());
            ps.setLong(2, session);
            ps.setLong(3, epoch);
            return ps.executeUpdate();
        }
    }

    static long rows() throws SQLException {
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM fenced_rows")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    // ------------------------------------------------------------------ the incarnation

    @Test
    void aZombieWithTheSameAgentIdIsRefusedEvenAtTheCurrentEpoch() throws SQLException {
        // P holds the lease at epoch 1 under session 1; Q starts with the same id (session 2) and
        // the operator gives Q the lease: epoch 2. P, still running, sees "agent-a, epoch 2".
        Session p = register(a, Duration.ofSeconds(30));
        store.acquire(AcquireRequest.ifFree(k0, a, p.sessionEpoch()), "Assigned");
        Session q = register(a, Duration.ofSeconds(30));
        store.acquire(AcquireRequest.ifFree(k0, a, q.sessionEpoch()), "AgentLost");

        assertThat(store.validate(k0, a, p.sessionEpoch(), 2).status()).isEqualTo(Validation.Status.SUPERSEDED);
        assertThatThrownBy(() -> store.fenced(k0, a, p.sessionEpoch(), 2, c -> insert(c, a, p.sessionEpoch(), 2)))
                .isInstanceOfSatisfying(FencingException.class,
                        e -> assertThat(e.validation().status()).isEqualTo(Validation.Status.SUPERSEDED));
        assertThat(store.renew(a, p.sessionEpoch())).isEqualTo(Renewal.SUPERSEDED);
        assertThat(store.release(k0, a, p.sessionEpoch(), 2, "Released").released())
                .as("nor can it release the newer incarnation's lease").isFalse();

        Integer written = store.fenced(k0, a, q.sessionEpoch(), 2, c -> insert(c, a, q.sessionEpoch(), 2));
        assertThat(written).isEqualTo(1);
        assertThat(rows()).isEqualTo(1);
    }

    // ------------------------------------------------------------------ bounded transactions

    @Test
    void aWriterParkedInsideItsTransactionHoldsUpNoFailoverAndNeverCommitsAfterItsExpiry() throws Exception {
        Session parkedAgent = register(a, Duration.ofSeconds(2)); // never renewed from here on
        Session standby = register(b, Duration.ofSeconds(60));
        List<LeaseKey> keys = new ArrayList<>();
        for (int p = 0; p < 5; p++) {
            keys.add(LeaseKey.of("parked", p));
        }
        store.acquireAll(keys.stream().map(k -> AcquireRequest.ifFree(k, a, parkedAgent.sessionEpoch())).toList(),
                "Assigned");
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch resume = new CountDownLatch(1);
        Future<Integer> parked = executor.submit(() -> store.fenced(keys.get(0), a, parkedAgent.sessionEpoch(), 1, c -> {
            insert(c, a, parkedAgent.sessionEpoch(), 1);
            inside.countDown();
            try {
                resume.await(); // a GC pause, SIGSTOP, a partition: the process stops inside its transaction
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return insert(c, a, parkedAgent.sessionEpoch(), 1);
        }));
        assertThat(inside.await(10, TimeUnit.SECONDS)).isTrue();

        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                .until(() -> !store.session(a).orElseThrow().live());
        // The operator's failover: one batch, retried for rows that come back LOCKED. It completes
        // within the session timeout of the expiry (the parked writer's bound), not whenever the
        // writer wakes up; here it never wakes up until the end.
        await().atMost(Duration.ofSeconds(8)).pollInterval(Duration.ofMillis(50)).until(() -> {
            List<AcquireRequest> left = keys.stream().filter(k -> !store.lease(k).orElseThrow().isHeldBy(b))
                    .map(k -> AcquireRequest.ifFree(k, b, standby.sessionEpoch())).toList();
            return left.isEmpty() || store.acquireAll(left, "AgentLost").stream().allMatch(r -> r.outcome() == ACQUIRED);
        });
        assertThat(keys).allSatisfy(k -> assertThat(store.lease(k).orElseThrow().epoch()).isEqualTo(2));

        resume.countDown();
        assertThatThrownBy(() -> parked.get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOfSatisfying(FencingException.class,
                        e -> assertThat(e.validation().status()).isEqualTo(Validation.Status.EXPIRED));
        assertThat(rows()).as("nothing of the parked transaction committed").isZero();
    }

    @Test
    void oneRowLockedByAnUnboundedReaderNeverHoldsUpTheRestOfABatch() throws Exception {
        Session dead = register(a, Duration.ofSeconds(1));
        Session standby = register(b, Duration.ofSeconds(60));
        List<LeaseKey> keys = new ArrayList<>();
        for (int p = 0; p < 4; p++) {
            keys.add(LeaseKey.of("locked", p));
        }
        store.acquireAll(keys.stream().map(k -> AcquireRequest.ifFree(k, a, dead.sessionEpoch())).toList(), "Assigned");
        await().atMost(Duration.ofSeconds(10)).until(() -> !store.session(a).orElseThrow().live());

        // A client that share-locks a row without the fence (so without its bounds) and stays.
        try (Connection holder = dataSource.getConnection()) {
            holder.setAutoCommit(false);
            try (Statement s = holder.createStatement()) {
                s.execute("SET LOCAL lock_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0");
                s.executeQuery("SELECT * FROM partition_lease WHERE topic = 'locked' AND partition = 2 FOR SHARE").close();
            }
            Future<List<AcquireResult>> batch = executor.submit(() -> store.acquireAll(
                    keys.stream().map(k -> AcquireRequest.ifFree(k, b, standby.sessionEpoch())).toList(), "AgentLost"));
            // Well inside the pool's 10 s lock timeout: the batch does not wait on the locked row.
            List<AcquireResult> results = batch.get(5, TimeUnit.SECONDS);
            Map<Integer, AcquireResult.Outcome> outcomes = results.stream()
                    .collect(Collectors.toMap(r -> r.lease().key().partition(), AcquireResult::outcome));
            assertThat(outcomes).containsEntry(0, ACQUIRED).containsEntry(1, ACQUIRED).containsEntry(3, ACQUIRED)
                    .containsEntry(2, AcquireResult.Outcome.LOCKED);
            assertThat(results).filteredOn(r -> r.outcome() == AcquireResult.Outcome.LOCKED).singleElement()
                    .satisfies(r -> assertThat(r.lease().holder()).as("the row as it stands").isEqualTo(a));
            holder.rollback();
        }
        assertThat(store.acquireAll(List.of(AcquireRequest.ifFree(keys.get(2), b, standby.sessionEpoch())), "AgentLost"))
                .singleElement().satisfies(r -> assertThat(r.outcome()).isEqualTo(ACQUIRED));
    }

    @Test
    void aFencedTransactionIsBoundedByTheSessionsRemainingTime() throws Exception {
        Session s = register(a, Duration.ofSeconds(2));
        store.acquire(AcquireRequest.ifFree(k0, a, s.sessionEpoch()), "Assigned");

        long started = System.nanoTime();
        assertThatThrownBy(() -> store.fenced(k0, a, s.sessionEpoch(), 1, c -> {
            insert(c, a, s.sessionEpoch(), 1);
            try (Statement st = c.createStatement()) {
                st.execute("SELECT pg_sleep(60)"); // longer than the session has left
            }
            return 1;
        })).isInstanceOfSatisfying(FencingException.class,
                e -> assertThat(e.validation().status()).isEqualTo(Validation.Status.EXPIRED));
        assertThat(Duration.ofNanos(System.nanoTime() - started)).as("cancelled at the session's expiry")
                .isLessThan(Duration.ofSeconds(30));
        assertThat(rows()).isZero();
    }

    // ------------------------------------------------------------------ renewals

    @Test
    void aRenewalThatWaitedOnItsRowPastTheExpiryDoesNotReviveTheSession() throws Exception {
        Session s = register(a, Duration.ofSeconds(1));
        try (Connection blocker = dataSource.getConnection()) {
            blocker.setAutoCommit(false);
            try (Statement st = blocker.createStatement()) {
                st.executeQuery("SELECT * FROM agent_session WHERE agent_id = 'agent-a' FOR UPDATE").close();
            }
            // Sent while the session is alive; it waits for the row lock.
            Future<Renewal> renewal = executor.submit(() -> store.renew(a, s.sessionEpoch()));
            awaitWaitingOnALock("SELECT lease_renew");
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                    .until(() -> !store.session(a).orElseThrow().live());
            assertThat(renewal.isDone()).as("still waiting on the row").isFalse();
            blocker.commit();
            assertThat(renewal.get(10, TimeUnit.SECONDS)).isEqualTo(Renewal.EXPIRED);
        }
        assertThat(store.session(a).orElseThrow().live()).isFalse();
    }

    @Test
    void anEndedSessionCanNeverBeRenewedEvenByARenewalQueuedBehindTheEnd() throws Exception {
        Session s = register(a, Duration.ofSeconds(30));
        try (Connection ender = dataSource.getConnection()) {
            ender.setAutoCommit(false);
            try (PreparedStatement ps = ender.prepareStatement("SELECT lease_end_session(?, ?)")) {
                ps.setString(1, a.value());
                ps.setLong(2, s.sessionEpoch());
                ps.executeQuery().close();
            }
            Future<Renewal> renewal = executor.submit(() -> store.renew(a, s.sessionEpoch()));
            awaitWaitingOnALock("SELECT lease_renew");
            ender.commit();
            assertThat(renewal.get(10, TimeUnit.SECONDS)).isEqualTo(Renewal.EXPIRED);
        }
        assertThat(store.session(a).orElseThrow().live()).isFalse();
        assertThat(store.renew(a, s.sessionEpoch())).isEqualTo(Renewal.EXPIRED);
    }

    // ------------------------------------------------------------------ durability and auto-commit

    @Test
    void fencedWritesAndHolderChangesCommitDurablyWhateverTheConnectionSays() throws SQLException {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(dataSource.getJdbcUrl());
        config.setUsername("postgres");
        config.setMaximumPoolSize(2);
        config.setConnectionInitSql("SET synchronous_commit = off"); // an application's own choice
        try (HikariDataSource careless = new HikariDataSource(config)) {
            PostgresLeaseStore carelessStore = new PostgresLeaseStore(careless);
            Session s = carelessStore.register(Registrations.registration(a, Duration.ofSeconds(30)));
            carelessStore.acquire(AcquireRequest.ifFree(k0, a, s.sessionEpoch()), "Assigned");
            String inside = carelessStore.fenced(k0, a, s.sessionEpoch(), 1, c -> {
                try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SHOW synchronous_commit")) {
                    rs.next();
                    return rs.getString(1);
                }
            });
            assertThat(inside).as("the setting the fenced transaction commits with").isEqualTo("on");
            try (Connection c = careless.getConnection(); Statement st = c.createStatement()) {
                c.setAutoCommit(false);
                st.executeQuery("SELECT * FROM lease_acquire('fenced', 1, 'agent-a', " + s.sessionEpoch()
                        + ", NULL, NULL, 'Assigned')").close();
                try (ResultSet rs = st.executeQuery("SHOW synchronous_commit")) {
                    rs.next();
                    assertThat(rs.getString(1)).as("a holder change commits durably").isEqualTo("on");
                }
                c.commit();
                try (ResultSet rs = st.executeQuery("SHOW synchronous_commit")) {
                    rs.next();
                    assertThat(rs.getString(1)).as("only for that transaction").isEqualTo("off");
                }
            }
        }
    }

    @Test
    void everyOperationWorksOnADataSourceWithAutoCommitOff() {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(dataSource.getJdbcUrl());
        config.setUsername("postgres");
        config.setMaximumPoolSize(2);
        config.setAutoCommit(false);
        try (HikariDataSource manual = new HikariDataSource(config)) {
            PostgresLeaseStore manualStore = new PostgresLeaseStore(manual);
            Session s = manualStore.register(Registrations.registration(a, Duration.ofSeconds(30)));
            assertThat(manualStore.renew(a, s.sessionEpoch())).isEqualTo(Renewal.RENEWED);
            manualStore.acquire(AcquireRequest.ifFree(k0, a, s.sessionEpoch()), "Assigned");
            Integer written = manualStore.fenced(k0, a, s.sessionEpoch(), 1, c -> insert(c, a, s.sessionEpoch(), 1));
            assertThat(written).isEqualTo(1);
            assertThat(manualStore.release(k0, a, s.sessionEpoch(), 1, "Released").released()).isTrue();
            assertThat(manualStore.expire(a, s.sessionEpoch())).isTrue();
        }
        // Seen from elsewhere: every one of them committed.
        Session seen = store.session(a).orElseThrow();
        assertThat(seen.live()).isFalse();
        assertThat(store.history(k0)).extracting(HistoryEntry::reason).containsExactly("Assigned", "Released");
        try {
            assertThat(rows()).isEqualTo(1);
        } catch (SQLException e) {
            throw new AssertionError(e);
        }
    }

    // ------------------------------------------------------------------ the protocol in SQL

    @Test
    void eachRefusalRaisesItsDocumentedSqlState() throws SQLException {
        Session sa = register(a, Duration.ofSeconds(30));
        Session sb = register(b, Duration.ofSeconds(30));
        store.acquire(AcquireRequest.ifFree(k0, a, sa.sessionEpoch()), "Assigned");
        store.acquire(AcquireRequest.takeOver(k0, b, sb.sessionEpoch(), a, 1), "Handoff");
        Session sa2 = register(a, Duration.ofSeconds(30));

        assertThat(fenceState("fenced", 0, "agent-b", sb.sessionEpoch(), 2)).isNull();
        assertThat(fenceState("fenced", 0, "agent-a", sa2.sessionEpoch(), 2)).as("not the holder").isEqualTo("SH001");
        assertThat(fenceState("fenced", 0, "agent-a", sa2.sessionEpoch(), 1)).as("stale epoch").isEqualTo("SH002");
        assertThat(fenceState("fenced", 0, "agent-a", sa.sessionEpoch(), 2)).as("superseded").isEqualTo("SH003");
        assertThat(fenceState("never", 0, "agent-b", sb.sessionEpoch(), 1)).as("no such partition").isEqualTo("SH006");
        assertThat(fenceState("fenced", 0, "nobody", 1, 1)).as("unknown agent").isEqualTo("SH007");
        store.expire(b, sb.sessionEpoch());
        assertThat(fenceState("fenced", 0, "agent-b", sb.sessionEpoch(), 2)).as("expired").isEqualTo("SH004");

        try (Connection c = dataSource.getConnection(); Statement st = c.createStatement()) {
            st.execute("BEGIN ISOLATION LEVEL REPEATABLE READ");
            assertThatThrownBy(() -> st.execute("SELECT lease_fence('fenced', 0, 'agent-b', 1, 2)"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("SH008"));
            st.execute("ROLLBACK");
            assertThatThrownBy(() -> st.execute("SELECT lease_renew('agent-a', " + sa.sessionEpoch() + ")"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("SH003"));
            assertThatThrownBy(() -> st.execute("SELECT lease_renew('agent-b', " + sb.sessionEpoch() + ")"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("SH004"));
        }
    }

    @Test
    void theCommitTimeCheckRefusesATransactionWhoseSessionEndedAfterItsFence() throws SQLException {
        Session s = register(a, Duration.ofSeconds(30));
        store.acquire(AcquireRequest.ifFree(k0, a, s.sessionEpoch()), "Assigned");
        try (Connection c = dataSource.getConnection(); Statement st = c.createStatement()) {
            c.setAutoCommit(false);
            st.executeQuery("SELECT lease_fence('fenced', 0, 'agent-a', " + s.sessionEpoch() + ", 1)").close();
            insert(c, a, s.sessionEpoch(), 1);
            store.expire(a, s.sessionEpoch()); // ended meanwhile (the operator saw the pod go)
            assertThatThrownBy(c::commit).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("SH005"));
        }
        assertThat(rows()).isZero();
    }

    /** Until a statement starting with {@code prefix} is waiting for a lock (the interleaving is set). */
    static void awaitWaitingOnALock(String prefix) {
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10)).until(() -> {
            try (Connection c = dataSource.getConnection();
                 PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM pg_stat_activity"
                         + " WHERE wait_event_type = 'Lock' AND query LIKE ? AND datname = current_database()")) {
                ps.setString(1, prefix + "%");
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getLong(1) > 0;
                }
            }
        });
    }

    String fenceState(String topic, int partition, String agent, long session, long epoch) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("SELECT lease_fence(?, ?, ?, ?, ?)")) {
                ps.setString(1, topic);
                ps.setInt(2, partition);
                ps.setString(3, agent);
                ps.setLong(4, session);
                ps.setLong(5, epoch);
                ps.executeQuery().close();
                return null;
            } catch (SQLException e) {
                return e.getSQLState();
            } finally {
                c.rollback();
            }
        }
    }
}
