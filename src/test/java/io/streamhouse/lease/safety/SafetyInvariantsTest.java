package io.streamhouse.lease.safety;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.testing.TestDatabases;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The judge of the safety suite must itself be able to fail: each violation it looks for, planted. */
class SafetyInvariantsTest {

    HikariDataSource db;

    @BeforeEach
    void database() throws SQLException {
        db = TestDatabases.fresh("invariants", 2); // its server runs with track_commit_timestamp = on
        commit(SafetyInvariants.TABLE_DDL, SafetyInvariants.AUDIT_DDL);
        session("a", 1);
        session("b", 1);
    }

    @AfterEach
    void close() {
        db.close();
    }

    /** Each statement its own transaction, so commits are ordered as written here. */
    void commit(String... statements) throws SQLException {
        try (Connection c = db.getConnection(); Statement st = c.createStatement()) {
            for (String sql : statements) {
                st.execute(sql);
            }
        }
    }

    /** Registers (or replaces) {@code agent}'s session, live for an hour. */
    void session(String agent, long session) throws SQLException {
        commit("INSERT INTO agent_session (agent_id, session_epoch, agent_group, ttl_ms, registered_at, renewed_at,"
                + " expires_at) VALUES ('" + agent + "', " + session + ", 'default', 3000, now(), now(),"
                + " now() + interval '1 hour') ON CONFLICT (agent_id) DO UPDATE SET session_epoch = EXCLUDED.session_epoch,"
                + " expires_at = EXCLUDED.expires_at, ended_at = NULL");
    }

    /** History and row together, as the protocol's CAS writes them; the holder's session is 1. */
    void acquired(int partition, long epoch, String from, String to) throws SQLException {
        acquired(partition, epoch, from, to, 1);
    }

    void acquired(int partition, long epoch, String from, String to, long session) throws SQLException {
        commit("INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason) VALUES ('t', "
                + partition + ", " + epoch + ", " + (from == null ? "NULL" : "'" + from + "'") + ", '" + to + "', 'Assigned');"
                + " INSERT INTO partition_lease (topic, partition, holder, holder_session, epoch) VALUES ('t', " + partition
                + ", '" + to + "', " + session + ", " + epoch + ") ON CONFLICT (topic, partition) DO UPDATE SET"
                + " holder = EXCLUDED.holder, holder_session = EXCLUDED.holder_session, epoch = EXCLUDED.epoch");
    }

    void released(int partition, long epoch, String from) throws SQLException {
        commit("INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason) VALUES ('t', "
                + partition + ", " + epoch + ", '" + from + "', NULL, 'Released');"
                + " UPDATE partition_lease SET holder = NULL, holder_session = NULL WHERE topic = 't' AND partition = "
                + partition);
    }

    void wrote(int partition, long epoch, String agent, long seq) throws SQLException {
        wrote(partition, epoch, agent, 1, seq);
    }

    void wrote(int partition, long epoch, String agent, long session, long seq) throws SQLException {
        commit("INSERT INTO agent_write VALUES ('t', " + partition + ", " + epoch + ", '" + agent + "', " + session + ", "
                + seq + ")");
    }

    SafetyInvariants.Verdict verdict(SafetyInvariants.Ack... acks) throws SQLException {
        return verdict(List.of(), acks);
    }

    SafetyInvariants.Verdict verdict(List<SafetyInvariants.Observed> observed, SafetyInvariants.Ack... acks)
            throws SQLException {
        try (Connection c = db.getConnection()) {
            return SafetyInvariants.check(c, List.of(acks), observed);
        }
    }

    @Test
    void aCleanHistoryHolds() throws SQLException {
        acquired(0, 1, null, "a");
        wrote(0, 1, "a", 1);
        acquired(0, 2, "a", "b");
        wrote(0, 2, "b", 2);
        released(0, 2, "b");
        acquired(0, 3, "b", "a");
        wrote(0, 3, "a", 3);
        var v = verdict(List.of(new SafetyInvariants.Observed("a", "t", 0, 1), new SafetyInvariants.Observed("b", "t", 0, 2)),
                new SafetyInvariants.Ack("a", 1), new SafetyInvariants.Ack("b", 2), new SafetyInvariants.Ack("a", 3));
        assertThat(v.violations()).isEmpty();
        assertThat(v.records()).isEqualTo(3);
        assertThat(v.changes()).isEqualTo(4);
    }

    @Test
    void aWriteCommittedAfterThePartitionMovedOnIsStale() throws SQLException {
        acquired(0, 1, null, "a");
        acquired(0, 2, "a", "b");
        wrote(0, 1, "a", 1); // committed after b got epoch 2
        assertThat(verdict().violations()).singleElement().asString().contains("a stale write").contains("to b at epoch 2");
    }

    @Test
    void aWriteAfterItsOwnReleaseIsStale() throws SQLException {
        acquired(0, 1, null, "a");
        released(0, 1, "a");
        wrote(0, 1, "a", 1);
        assertThat(verdict().violations()).singleElement().asString().contains("released");
    }

    @Test
    void aWriteWithSomeoneElsesOrAnUnknownEpochIsCaught() throws SQLException {
        acquired(0, 1, null, "a");
        wrote(0, 1, "b", 1);
        wrote(0, 7, "a", 2);
        assertThat(verdict().violations()).anySatisfy(v -> assertThat(v).contains("belongs to a"))
                .anySatisfy(v -> assertThat(v).contains("never acquired"));
    }

    @Test
    void twoHoldersForOneEpochOrAnEpochThatJumpsAreCaught() throws SQLException {
        acquired(0, 1, null, "a");
        acquired(0, 1, null, "b");
        acquired(1, 1, null, "a");
        acquired(1, 3, "a", "b");
        assertThat(verdict().violations()).anySatisfy(v -> assertThat(v).contains("held by both a and b"))
                .anySatisfy(v -> assertThat(v).contains("t/1: acquisition to epoch 3 after epoch 1"));
    }

    @Test
    void anAcknowledgedWriteThatIsMissingIsLost() throws SQLException {
        acquired(0, 1, null, "a");
        wrote(0, 1, "a", 1);
        assertThat(verdict(new SafetyInvariants.Ack("a", 1), new SafetyInvariants.Ack("a", 2)).violations())
                .containsExactly("acknowledged write lost: Ack[agent=a, seq=2]");
    }

    // ------------------------------------------------------------------ the checks that do not trust history

    @Test
    void anEpochWrittenByTwoIncarnationsOfOneAgentIsCaught() throws SQLException {
        acquired(0, 1, null, "a");
        wrote(0, 1, "a", 1);
        session("a", 2); // a second process with a's identity
        wrote(0, 1, "a", 2, 2); // writes at the epoch the first incarnation holds
        assertThat(verdict().violations())
                .anySatisfy(v -> assertThat(v).contains("t/0@1 carries records of two incarnations: a session 1 and a session 2"))
                .anySatisfy(v -> assertThat(v).contains("no version of the row had that incarnation holding that epoch"));
    }

    @Test
    void aRecordOfTheReplacedIncarnationCommittedAfterTheReplacementIsCaught() throws SQLException {
        acquired(0, 1, null, "a");
        session("a", 2);
        wrote(0, 1, "a", 1, 1);
        try (Connection c = db.getConnection()) {
            // No slack: here nothing stands between the replacement's commit and the record's.
            assertThat(SafetyInvariants.check(c, List.of(), List.of(), Duration.ZERO).violations())
                    .singleElement().asString().contains("after session 2 replaced it");
        }
    }

    @Test
    void aRecordCommittedAfterItsSessionExpiredOrEndedIsCaught() throws SQLException {
        acquired(0, 1, null, "a");
        acquired(1, 1, null, "b");
        commit("UPDATE agent_session SET expires_at = now() - interval '2 seconds' WHERE agent_id = 'a'",
                "UPDATE agent_session SET ended_at = now() - interval '2 seconds' WHERE agent_id = 'b'");
        wrote(0, 1, "a", 1);
        wrote(1, 1, "b", 2);
        assertThat(verdict().violations()).hasSize(2)
                .anySatisfy(v -> assertThat(v).contains("record a#1").contains("ms after its session expired"))
                .anySatisfy(v -> assertThat(v).contains("record b#2").contains("after its session ended"));
    }

    @Test
    void historyThatDisagreesWithTheRowVersionsOrTheFinalRowIsCaught() throws SQLException {
        acquired(0, 1, null, "a");
        // history claims a change the row never made...
        commit("INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason)"
                + " VALUES ('t', 0, 2, 'a', 'b', 'Moved')");
        // ...and the row makes one history never recorded
        acquired(1, 1, null, "a");
        commit("UPDATE partition_lease SET holder = 'b', epoch = 2 WHERE topic = 't' AND partition = 1");
        assertThat(verdict().violations())
                .anySatisfy(v -> assertThat(v).contains("t/0: history says epoch 2 went to b but no version of the row ever said so"))
                .anySatisfy(v -> assertThat(v).contains("t/0: the row ends at epoch 1 held by a, history ends at epoch 2 with b"))
                .anySatisfy(v -> assertThat(v).contains("t/1: the row was held at epoch 2 by b but history has no such acquisition"));
    }

    @Test
    void aReleaseTheRowNeverMadeIsCaught() throws SQLException {
        acquired(0, 1, null, "a");
        commit("INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason)"
                + " VALUES ('t', 0, 1, 'a', NULL, 'Released')");
        assertThat(verdict().violations())
                .anySatisfy(v -> assertThat(v).contains("release at epoch 1 but no version of the row was ever free"));
    }

    @Test
    void aGrantAnAgentWasToldOfThatHistoryNeverMadeIsCaught() throws SQLException {
        acquired(0, 1, null, "a");
        assertThat(verdict(List.of(new SafetyInvariants.Observed("b", "t", 0, 1))).violations())
                .containsExactly("b was told it holds t/0 at epoch 1, which history never gave it");
    }
}
