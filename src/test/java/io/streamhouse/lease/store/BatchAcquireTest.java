package io.streamhouse.lease.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.streamhouse.lease.testing.StoreDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * {@code lease_acquire_batch} (one set-based statement since V6) decides every row exactly as
 * {@code lease_acquire_row} decides it alone, on a real PostgreSQL: the same outcomes, the same
 * rows and history, the same notifications, for random mixes of free, missing, live, expired,
 * ended, superseded and locked rows, and of targets live or not. The per-row function is the
 * reference the batch was written from; a difference in any column of any row fails here.
 */
class BatchAcquireTest {

    @RegisterExtension
    static final StoreDatabase db = new StoreDatabase("batch", 4);

    /** Agents: live, live, expired, ended, and one whose session 1 was superseded by 2. */
    static final String[] AGENTS = {"live-a", "live-b", "dead", "ended", "renewed"};

    record Request(String topic, int partition, String agent, long session, String expectedHolder, Long expectedEpoch) {
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void aBatchDecidesEveryRowAsTheRowFunctionAlone(long seed) throws Exception {
        Observed batch = observe(seed, BatchAcquireTest::batch);
        Observed alone = observe(seed, BatchAcquireTest::oneByOne);

        assertThat(batch.results()).as("outcomes, row by row").containsExactlyElementsOf(alone.results());
        assertThat(batch.rows()).as("partition_lease after").containsExactlyElementsOf(alone.rows());
        assertThat(batch.history()).as("lease_history after").containsExactlyElementsOf(alone.history());
        assertThat(batch.toOperator()).as("the operator's notifications, one per change, in order")
                .containsExactlyElementsOf(alone.toOperator());
        assertThat(batch.toAgents()).as("each agent's channel, once per transaction")
                .doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(alone.toAgents().stream().distinct().toList());
        assertThat(batch.results()).as("the mix covers every outcome")
                .anyMatch(r -> r.contains(" ACQUIRED ")).anyMatch(r -> r.contains(" LOCKED "))
                .anyMatch(r -> r.contains(" HELD_BY_OTHER ")).anyMatch(r -> r.contains(" AGENT_NOT_LIVE "))
                .anyMatch(r -> r.contains(" ALREADY_HELD "));
    }

    /** What one way left: its answers, the tables before commit, and what listeners were sent at commit. */
    record Observed(List<String> results, List<String> rows, List<String> history, List<String> toOperator,
                    List<String> toAgents) {
    }

    interface Way {
        List<String> run(Connection c, List<Request> requests) throws SQLException;
    }

    /** The scenario of {@code seed}, from empty tables, decided one way and committed, with some rows locked meanwhile. */
    private static Observed observe(long seed, Way way) throws Exception {
        db.execute("TRUNCATE agent_session, partition_lease, lease_history, lease_handoff");
        Random random = new Random(seed);
        setUp(random);
        List<Request> requests = requests(random);
        try (Connection locker = db.dataSource().getConnection();
             Connection listener = db.dataSource().getConnection();
             Connection c = db.dataSource().getConnection()) {
            locker.setAutoCommit(false);
            try (Statement st = locker.createStatement()) {
                // A writer inside its fenced transaction on some rows: the batch must skip them.
                st.executeQuery("SELECT 1 FROM partition_lease WHERE partition % 7 = 3 FOR SHARE").close();
            }
            listen(listener);
            c.setAutoCommit(false);
            List<String> results = way.run(c, requests);
            List<String> rows = strings(c, "SELECT topic, partition, holder, holder_session, epoch, previous_holder,"
                    + " acquired_at = now() AS acquired_now, updated_at = now() AS updated_now FROM partition_lease"
                    + " ORDER BY topic, partition");
            List<String> history = strings(c, "SELECT topic, partition, epoch, from_holder, to_holder, reason FROM lease_history"
                    + " ORDER BY topic, partition, epoch");
            c.commit();
            c.setAutoCommit(true);
            locker.rollback();
            List<String> notes = notifications(listener, c);
            return new Observed(results, rows, history,
                    notes.stream().filter(n -> n.startsWith("streamhouse_lease ")).toList(),
                    notes.stream().filter(n -> !n.startsWith("streamhouse_lease ")).toList());
        }
    }

    @Test
    void aBatchNamingAPartitionTwiceOrWithArraysOfDifferentLengthsIsRefusedByTheDatabase() throws Exception {
        try (Connection c = db.dataSource().getConnection(); Statement st = c.createStatement()) {
            assertThatThrownBy(() -> st.executeQuery("SELECT * FROM lease_acquire_batch(ARRAY['t','t']::varchar[],"
                    + " ARRAY[1,1], ARRAY['a','a']::varchar[], ARRAY[1,1]::bigint[], ARRAY[NULL,NULL]::varchar[],"
                    + " ARRAY[NULL,NULL]::bigint[], 'Assigned')"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("22023"))
                    .hasMessageContaining("a partition is named twice");
            assertThatThrownBy(() -> st.executeQuery("SELECT * FROM lease_acquire_batch(ARRAY['t','t']::varchar[],"
                    + " ARRAY[1,2], ARRAY['a']::varchar[], ARRAY[1,1]::bigint[], ARRAY[NULL,NULL]::varchar[],"
                    + " ARRAY[NULL,NULL]::bigint[], 'Assigned')"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("22023"))
                    .hasMessageContaining("the arrays differ in length");
            try (ResultSet rs = st.executeQuery("SELECT count(*) FROM partition_lease")) {
                rs.next();
                assertThat(rs.getInt(1)).as("nothing written").isZero();
            }
        }
    }

    // ------------------------------------------------------------------ the scenario

    private static void setUp(Random random) throws SQLException {
        db.execute("""
                INSERT INTO agent_session (agent_id, session_epoch, agent_group, ttl_ms, registered_at, renewed_at, expires_at, ended_at)
                VALUES ('live-a', 1, 'default', 30000, now(), now(), now() + interval '1 hour', NULL),
                       ('live-b', 4, 'default', 30000, now(), now(), now() + interval '1 hour', NULL),
                       ('dead', 1, 'default', 30000, now(), now(), now() - interval '1 second', NULL),
                       ('ended', 1, 'default', 30000, now(), now(), now() + interval '1 hour', now()),
                       ('renewed', 2, 'default', 30000, now(), now(), now() + interval '1 hour', NULL)""");
        StringBuilder rows = new StringBuilder();
        for (int p = 0; p < 120; p++) {
            int kind = random.nextInt(8);
            if (kind == 0) {
                continue; // never written: the batch inserts it
            }
            String holder = kind == 1 ? null : AGENTS[random.nextInt(AGENTS.length)];
            long session = "live-b".equals(holder) ? 4 : "renewed".equals(holder) ? 1 + random.nextInt(2) : 1;
            long epoch = holder == null ? random.nextInt(3) : 1 + random.nextInt(5);
            rows.append(rows.isEmpty() ? "" : ",").append(String.format("('t%d', %d, %s, %s, %d, %s, now() - interval '1 minute')",
                    p % 3, p, quote(holder), holder == null ? "NULL" : Long.toString(session), epoch,
                    random.nextBoolean() ? "'someone'" : "NULL"));
        }
        db.execute("INSERT INTO partition_lease (topic, partition, holder, holder_session, epoch, previous_holder, acquired_at)"
                + " VALUES " + rows);
    }

    /** Requests for most partitions, to random targets, half of them expecting the holder they saw. */
    private static List<Request> requests(Random random) throws SQLException {
        List<String[]> existing = new ArrayList<>();
        try (Connection c = db.dataSource().getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT topic, partition, holder, epoch, holder_session FROM partition_lease")) {
            while (rs.next()) {
                existing.add(new String[] {rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5)});
            }
        }
        List<Request> requests = new ArrayList<>();
        for (int p = 0; p < 120; p++) {
            if (random.nextInt(10) == 0) {
                continue;
            }
            int partition = p;
            String[] row = existing.stream().filter(r -> Integer.parseInt(r[1]) == partition).findFirst().orElse(null);
            String agent = AGENTS[random.nextInt(AGENTS.length)];
            long session = switch (agent) {
                case "live-b" -> random.nextBoolean() ? 4 : 5; // 5: newer than the database knows
                case "renewed" -> 1 + random.nextInt(2);
                default -> 1;
            };
            if (row != null && row[2] != null && random.nextInt(4) == 0) { // to the incarnation holding it
                agent = row[2];
                session = Long.parseLong(row[4]);
            }
            boolean expect = row != null && row[2] != null && random.nextBoolean();
            Long expectedEpoch = expect ? Long.parseLong(row[3]) + (random.nextInt(4) == 0 ? 1 : 0) : null;
            requests.add(new Request("t" + (p % 3), p, agent, session, expect ? row[2] : null, expectedEpoch));
        }
        java.util.Collections.shuffle(requests, random); // the function orders them itself
        return requests;
    }

    private static String quote(String s) {
        return s == null ? "NULL" : "'" + s + "'";
    }

    // ------------------------------------------------------------------ the two ways

    private static final String COLUMNS = "a.topic, a.partition, a.outcome, a.holder, a.holder_session, a.epoch,"
            + " a.previous_holder, a.acquired_at = now(), a.updated_at = now(), a.holder_live";

    private static List<String> batch(Connection c, List<Request> requests) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS
                + " FROM lease_acquire_batch(?::varchar[], ?::integer[], ?::varchar[], ?::bigint[], ?::varchar[], ?::bigint[], 'Test') a")) {
            ps.setArray(1, c.createArrayOf("varchar", requests.stream().map(Request::topic).toArray()));
            ps.setArray(2, c.createArrayOf("integer", requests.stream().map(Request::partition).toArray()));
            ps.setArray(3, c.createArrayOf("varchar", requests.stream().map(Request::agent).toArray()));
            ps.setArray(4, c.createArrayOf("bigint", requests.stream().map(Request::session).toArray()));
            ps.setArray(5, c.createArrayOf("varchar", requests.stream().map(Request::expectedHolder).toArray()));
            ps.setArray(6, c.createArrayOf("bigint", requests.stream().map(Request::expectedEpoch).toArray()));
            return strings(ps);
        }
    }

    /** The reference: lease_acquire_row without waiting, row by row in (topic, partition) order, in one transaction. */
    private static List<String> oneByOne(Connection c, List<Request> requests) throws SQLException {
        List<String> results = new ArrayList<>();
        List<Request> ordered = new ArrayList<>(requests);
        ordered.sort(Comparator.comparing(Request::topic).thenComparing(Request::partition));
        try (PreparedStatement ps = c.prepareStatement("SELECT " + COLUMNS.replace("a.topic, a.partition", "?::varchar, ?::integer")
                + " FROM lease_acquire_row(?, ?, ?, ?, ?, ?, 'Test', false) a")) {
            for (Request r : ordered) {
                ps.setString(1, r.topic());
                ps.setInt(2, r.partition());
                ps.setString(3, r.topic());
                ps.setInt(4, r.partition());
                ps.setString(5, r.agent());
                ps.setLong(6, r.session());
                ps.setString(7, r.expectedHolder());
                ps.setObject(8, r.expectedEpoch(), java.sql.Types.BIGINT);
                results.addAll(strings(ps));
            }
        }
        return results;
    }

    // ------------------------------------------------------------------ plumbing

    private static void listen(Connection listener) throws SQLException {
        try (Statement st = listener.createStatement()) {
            st.execute("LISTEN streamhouse_lease");
            st.execute("LISTEN batch_test_end");
            for (String agent : AGENTS) {
                st.execute("LISTEN \"" + channel(listener, agent) + "\"");
            }
        }
    }

    private static String channel(Connection c, String agent) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT lease_agent_channel(?)")) {
            ps.setString(1, agent);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getString(1);
            }
        }
    }

    /**
     * What the listener was sent, in order, up to the end marker {@code c} sends after its
     * commit (a later transaction's notifications arrive after the earlier one's).
     */
    private static List<String> notifications(Connection listener, Connection c) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute("NOTIFY batch_test_end");
        }
        List<String> seen = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            PGNotification[] got = listener.unwrap(PGConnection.class).getNotifications(1000);
            for (PGNotification n : got == null ? new PGNotification[0] : got) {
                if (n.getName().equals("batch_test_end")) {
                    return seen;
                }
                seen.add(n.getName() + " " + n.getParameter());
            }
        }
        throw new AssertionError("the end marker never came; seen " + seen);
    }

    private static List<String> strings(Connection c, String sql) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            return strings(ps);
        }
    }

    private static List<String> strings(PreparedStatement ps) throws SQLException {
        List<String> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
            int n = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                StringBuilder row = new StringBuilder();
                for (int i = 1; i <= n; i++) {
                    row.append(i == 1 ? "" : " ").append(rs.getString(i));
                }
                out.add(row.toString());
            }
        }
        return out;
    }
}
