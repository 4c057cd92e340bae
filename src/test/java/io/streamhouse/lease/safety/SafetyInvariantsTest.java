package io.streamhouse.lease.safety;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.testing.TestDatabases;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
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
        commit(SafetyInvariants.TABLE_DDL);
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

    void acquired(int partition, long epoch, String from, String to) throws SQLException {
        commit("INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason) VALUES ('t', "
                + partition + ", " + epoch + ", " + (from == null ? "NULL" : "'" + from + "'") + ", '" + to + "', 'Assigned')");
    }

    void released(int partition, long epoch, String from) throws SQLException {
        commit("INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason) VALUES ('t', "
                + partition + ", " + epoch + ", '" + from + "', NULL, 'Released')");
    }

    void wrote(int partition, long epoch, String agent, long seq) throws SQLException {
        commit("INSERT INTO agent_write VALUES ('t', " + partition + ", " + epoch + ", '" + agent + "', " + seq + ")");
    }

    SafetyInvariants.Verdict verdict(SafetyInvariants.Ack... acks) throws SQLException {
        try (Connection c = db.getConnection()) {
            return SafetyInvariants.check(c, List.of(acks));
        }
    }

    @Test
    void aCleanHistoryHolds() throws SQLException {
        acquired(0, 1, null, "a");
        wrote(0, 1, "a", 1);
        acquired(0, 2, "a", "b");
        wrote(0, 2, "b", 1);
        released(0, 2, "b");
        acquired(0, 3, "b", "a");
        wrote(0, 3, "a", 2);
        var v = verdict(new SafetyInvariants.Ack("a", 1), new SafetyInvariants.Ack("b", 1), new SafetyInvariants.Ack("a", 2));
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
        assertThat(verdict().violations()).hasSize(2).anySatisfy(v -> assertThat(v).contains("belongs to a"))
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
}
