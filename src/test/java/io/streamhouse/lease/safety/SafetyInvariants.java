package io.streamhouse.lease.safety;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The safety invariants, judged from the database alone after a run (plain JDBC; the server must
 * run with {@code track_commit_timestamp = on}, so that commits can be ordered after the fact):
 * <ol>
 * <li>every committed record carries the epoch that was current for its partition when it
 *     committed: its writer acquired that epoch before the record committed, and the record
 *     committed before the partition moved on (next acquisition) or was released by it;</li>
 * <li>at most one holder per (partition, epoch), and epochs only grow;</li>
 * <li>every write the library acknowledged is present.</li>
 * </ol>
 * Records live in {@code agent_write(topic, partition, epoch, agent, seq)}.
 */
final class SafetyInvariants {

    static final String TABLE_DDL = "CREATE TABLE IF NOT EXISTS agent_write (topic text NOT NULL, partition int NOT NULL,"
            + " epoch bigint NOT NULL, agent text NOT NULL, seq bigint NOT NULL, PRIMARY KEY (agent, seq))";

    /** One acknowledged write, as the writer saw fenced() return. */
    record Ack(String agent, long seq) {
    }

    private record Change(long id, long epoch, String from, String to, Timestamp committed) {
    }

    private record Write(String topic, int partition, long epoch, String agent, long seq, Timestamp committed) {
    }

    /** What was checked and what broke. */
    record Verdict(int records, int changes, List<String> violations) {
        boolean holds() {
            return violations.isEmpty();
        }
    }

    private SafetyInvariants() {
    }

    static Verdict check(Connection c, Collection<Ack> acknowledged) throws SQLException {
        Map<String, List<Change>> history = new HashMap<>();
        int changes = 0;
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT topic, partition, id, epoch, from_holder, to_holder,"
                     + " pg_xact_commit_timestamp(xmin) FROM lease_history ORDER BY topic, partition, id")) {
            while (rs.next()) {
                history.computeIfAbsent(rs.getString(1) + "/" + rs.getInt(2), k -> new ArrayList<>())
                        .add(new Change(rs.getLong(3), rs.getLong(4), rs.getString(5), rs.getString(6), rs.getTimestamp(7)));
                changes++;
            }
        }
        List<String> violations = new ArrayList<>();
        history.forEach((partition, list) -> checkHistory(partition, list, violations));

        List<Write> writes = new ArrayList<>();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT topic, partition, epoch, agent, seq, pg_xact_commit_timestamp(xmin)"
                     + " FROM agent_write")) {
            while (rs.next()) {
                writes.add(new Write(rs.getString(1), rs.getInt(2), rs.getLong(3), rs.getString(4), rs.getLong(5),
                        rs.getTimestamp(6)));
            }
        }
        Set<Ack> present = new HashSet<>();
        for (Write w : writes) {
            present.add(new Ack(w.agent(), w.seq()));
            checkWrite(w, history.getOrDefault(w.topic() + "/" + w.partition(), List.of()), violations);
        }
        for (Ack ack : acknowledged) {
            if (!present.contains(ack)) {
                violations.add("acknowledged write lost: " + ack);
            }
        }
        return new Verdict(writes.size(), changes, violations);
    }

    /** Acquisitions raise the epoch by one; a release keeps it; one holder per epoch. */
    private static void checkHistory(String partition, List<Change> list, List<String> violations) {
        long epoch = 0;
        Map<Long, String> holders = new HashMap<>();
        for (Change ch : list) {
            if (ch.to() != null) {
                if (ch.epoch() != epoch + 1) {
                    violations.add(partition + ": acquisition to epoch " + ch.epoch() + " after epoch " + epoch
                            + " (history id " + ch.id() + ")");
                }
                String before = holders.put(ch.epoch(), ch.to());
                if (before != null) {
                    violations.add(partition + ": epoch " + ch.epoch() + " held by both " + before + " and " + ch.to());
                }
                epoch = ch.epoch();
            } else if (ch.epoch() != epoch) {
                violations.add(partition + ": release at epoch " + ch.epoch() + " while at epoch " + epoch);
            }
        }
    }

    /** The record's epoch was its writer's, and current, at its commit. */
    private static void checkWrite(Write w, List<Change> list, List<String> violations) {
        Change acquired = null;
        Change ended = null; // the first change after the writer got the epoch: next acquisition or its release
        for (Change ch : list) {
            if (acquired == null) {
                if (ch.to() != null && ch.epoch() == w.epoch()) {
                    acquired = ch;
                }
            } else {
                ended = ch;
                break;
            }
        }
        String what = "record " + w.agent() + "#" + w.seq() + " on " + w.topic() + "/" + w.partition() + " at epoch "
                + w.epoch();
        if (acquired == null) {
            violations.add(what + ": that epoch was never acquired");
            return;
        }
        if (!w.agent().equals(acquired.to())) {
            violations.add(what + ": epoch " + w.epoch() + " belongs to " + acquired.to());
        }
        if (w.committed().before(acquired.committed())) {
            violations.add(what + ": committed at " + w.committed() + ", before its epoch was acquired at "
                    + acquired.committed());
        }
        if (ended != null && w.committed().after(ended.committed())) {
            violations.add(what + ": committed at " + w.committed() + ", after the partition moved on at "
                    + ended.committed() + " (" + (ended.to() == null ? "released" : "to " + ended.to() + " at epoch "
                    + ended.epoch()) + "): a stale write");
        }
    }
}
