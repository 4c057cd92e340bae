package io.streamhouse.lease.safety;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The safety invariants, judged after a run from evidence the system under test does not write
 * itself (plain JDBC; the server must run with {@code track_commit_timestamp = on}, so that
 * commits can be ordered after the fact):
 * <ul>
 * <li>{@code agent_write}: the records, each tagged by its writer with its own incarnation
 *     (agent id and session epoch) and acknowledged or not by {@code fenced()} returning;</li>
 * <li>{@code audit_lease} and {@code audit_session}: every version of every
 *     {@code partition_lease} and {@code agent_session} row, copied by triggers the harness
 *     installs ({@link #AUDIT_DDL}), with their commit times;</li>
 * <li>what the agents observed (their listeners' grants).</li>
 * </ul>
 * {@code lease_history}, which the protocol's own functions write, is the accused: it is
 * cross-checked against the row versions, the final rows and the agents' observations.
 *
 * <ol>
 * <li>every committed record carries the epoch that was current for its partition when it
 *     committed: its writer's incarnation acquired that epoch before the record committed, and the
 *     record committed before the partition moved on (next acquisition) or was released;</li>
 * <li>no epoch carries records of two incarnations;</li>
 * <li>no record committed after its writer's session expired or ended;</li>
 * <li>at most one holder per (partition, epoch), epochs only grow, and history, row versions,
 *     final rows and observations agree;</li>
 * <li>every write the library acknowledged is present.</li>
 * </ol>
 */
final class SafetyInvariants {

    static final String TABLE_DDL = "CREATE TABLE IF NOT EXISTS agent_write (topic text NOT NULL, partition int NOT NULL,"
            + " epoch bigint NOT NULL, agent text NOT NULL, session bigint NOT NULL, seq bigint PRIMARY KEY)";

    /** Row-version audits, installed by the harness (never by the operator's migrations). */
    static final String AUDIT_DDL = """
            CREATE TABLE IF NOT EXISTS audit_lease (topic text, partition int, holder text, holder_session bigint,
                                                    epoch bigint);
            CREATE TABLE IF NOT EXISTS audit_session (agent_id text, session_epoch bigint, expires_at timestamptz,
                                                      ended_at timestamptz);
            CREATE OR REPLACE FUNCTION audit_lease_row() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO audit_lease VALUES (NEW.topic, NEW.partition, NEW.holder, NEW.holder_session, NEW.epoch);
                RETURN NULL;
            END $$;
            CREATE OR REPLACE FUNCTION audit_session_row() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO audit_session VALUES (NEW.agent_id, NEW.session_epoch, NEW.expires_at, NEW.ended_at);
                RETURN NULL;
            END $$;
            DROP TRIGGER IF EXISTS audit_lease ON partition_lease;
            CREATE TRIGGER audit_lease AFTER INSERT OR UPDATE ON partition_lease
                FOR EACH ROW EXECUTE FUNCTION audit_lease_row();
            DROP TRIGGER IF EXISTS audit_session ON agent_session;
            CREATE TRIGGER audit_session AFTER INSERT OR UPDATE ON agent_session
                FOR EACH ROW EXECUTE FUNCTION audit_session_row();
            """;

    /**
     * How far a commit's timestamp may trail the moment its commit-time check passed: the commit
     * record is stamped just after the check, and a descheduled backend (CPU steal) can stretch
     * that. The failure this looks for is seconds long (a paused writer resuming).
     */
    static final Duration COMMIT_STAMP_SLACK = Duration.ofMillis(500);

    /** One acknowledged write, as the writer saw fenced() return. */
    record Ack(String agent, long seq) {
    }

    /** A grant an agent's library announced: {@code agent} holds {@code topic/partition} at {@code epoch}. */
    record Observed(String agent, String topic, int partition, long epoch) {
    }

    private record Change(long id, long epoch, String from, String to, Timestamp committed) {
    }

    private record Version(String holder, Long session, long epoch, Timestamp committed) {
    }

    private record SessionVersion(long session, Timestamp expires, Timestamp ended, Timestamp committed) {
    }

    private record Write(String topic, int partition, long epoch, String agent, long session, long seq,
                         Timestamp committed) {
        String describe() {
            return "record " + agent + "#" + seq + " (session " + session + ") on " + topic + "/" + partition
                    + " at epoch " + epoch;
        }
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
        return check(c, acknowledged, List.of());
    }

    static Verdict check(Connection c, Collection<Ack> acknowledged, Collection<Observed> observed) throws SQLException {
        return check(c, acknowledged, observed, COMMIT_STAMP_SLACK);
    }

    /**
     * Judges every table from one snapshot (REPEATABLE READ): the operator may still be working
     * while the judge reads (it gives the leases the last agents release as they stop to the ones
     * still running), and history read before a row that changed after would look like a row
     * changed without history.
     */
    static Verdict check(Connection c, Collection<Ack> acknowledged, Collection<Observed> observed, Duration slack)
            throws SQLException {
        boolean autoCommit = c.getAutoCommit();
        int isolation = c.getTransactionIsolation();
        c.setAutoCommit(false);
        c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
        try {
            return judge(c, acknowledged, observed, slack);
        } finally {
            c.rollback();
            c.setTransactionIsolation(isolation);
            c.setAutoCommit(autoCommit);
        }
    }

    private static Verdict judge(Connection c, Collection<Ack> acknowledged, Collection<Observed> observed, Duration slack)
            throws SQLException {
        Map<String, List<Change>> history = new HashMap<>();
        int changes = 0;
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT topic, partition, id, epoch, from_holder, to_holder,"
                     + " pg_xact_commit_timestamp(xmin) FROM lease_history ORDER BY topic, partition, id")) {
            while (rs.next()) {
                history.computeIfAbsent(key(rs.getString(1), rs.getInt(2)), k -> new ArrayList<>())
                        .add(new Change(rs.getLong(3), rs.getLong(4), rs.getString(5), rs.getString(6), rs.getTimestamp(7)));
                changes++;
            }
        }
        Map<String, List<Version>> versions = new HashMap<>();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT topic, partition, holder, holder_session, epoch,"
                     + " pg_xact_commit_timestamp(xmin) FROM audit_lease ORDER BY pg_xact_commit_timestamp(xmin)")) {
            while (rs.next()) {
                long session = rs.getLong(4);
                versions.computeIfAbsent(key(rs.getString(1), rs.getInt(2)), k -> new ArrayList<>())
                        .add(new Version(rs.getString(3), rs.wasNull() ? null : session, rs.getLong(5), rs.getTimestamp(6)));
            }
        }
        Map<String, List<SessionVersion>> sessions = new HashMap<>();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT agent_id, session_epoch, expires_at, ended_at,"
                     + " pg_xact_commit_timestamp(xmin) FROM audit_session ORDER BY pg_xact_commit_timestamp(xmin)")) {
            while (rs.next()) {
                sessions.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(new SessionVersion(
                        rs.getLong(2), rs.getTimestamp(3), rs.getTimestamp(4), rs.getTimestamp(5)));
            }
        }
        Map<String, Version> finalRows = new HashMap<>();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT topic, partition, holder, holder_session, epoch FROM partition_lease")) {
            while (rs.next()) {
                long session = rs.getLong(4);
                finalRows.put(key(rs.getString(1), rs.getInt(2)),
                        new Version(rs.getString(3), rs.wasNull() ? null : session, rs.getLong(5), null));
            }
        }

        List<String> violations = new ArrayList<>();
        history.forEach((partition, list) -> checkHistory(partition, list, violations));
        checkAgainstRows(history, versions, finalRows, violations);
        for (Observed o : observed) {
            checkObserved(o, history.getOrDefault(key(o.topic(), o.partition()), List.of()), violations);
        }

        List<Write> writes = new ArrayList<>();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT topic, partition, epoch, agent, session, seq,"
                     + " pg_xact_commit_timestamp(xmin) FROM agent_write")) {
            while (rs.next()) {
                writes.add(new Write(rs.getString(1), rs.getInt(2), rs.getLong(3), rs.getString(4), rs.getLong(5),
                        rs.getLong(6), rs.getTimestamp(7)));
            }
        }
        Set<Ack> present = new HashSet<>();
        Map<String, String> incarnationOfEpoch = new HashMap<>();
        for (Write w : writes) {
            present.add(new Ack(w.agent(), w.seq()));
            String partition = key(w.topic(), w.partition());
            checkWrite(w, history.getOrDefault(partition, List.of()), violations);
            checkIncarnation(w, versions.getOrDefault(partition, List.of()), incarnationOfEpoch, violations);
            checkSessionAtCommit(w, sessions.getOrDefault(w.agent(), List.of()), slack, violations);
        }
        for (Ack ack : acknowledged) {
            if (!present.contains(ack)) {
                violations.add("acknowledged write lost: " + ack);
            }
        }
        return new Verdict(writes.size(), changes, violations);
    }

    private static String key(String topic, int partition) {
        return topic + "/" + partition;
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

    /**
     * History against the row versions the audit trigger copied, and against the final rows: the
     * (epoch, holder) pairs with a holder must be the same sets, each release must have left a
     * holderless version at its epoch, and the last entry must describe the final row.
     */
    private static void checkAgainstRows(Map<String, List<Change>> history, Map<String, List<Version>> versions,
                                         Map<String, Version> finalRows, List<String> violations) {
        Set<String> partitions = new HashSet<>(history.keySet());
        partitions.addAll(versions.keySet());
        partitions.addAll(finalRows.keySet());
        for (String partition : partitions) {
            List<Change> changes = history.getOrDefault(partition, List.of());
            Set<String> fromHistory = new HashSet<>();
            Set<Long> releases = new HashSet<>();
            for (Change ch : changes) {
                if (ch.to() != null) {
                    fromHistory.add(ch.epoch() + " " + ch.to());
                } else {
                    releases.add(ch.epoch());
                }
            }
            Set<String> fromRows = new HashSet<>();
            Set<Long> holderless = new HashSet<>();
            for (Version v : versions.getOrDefault(partition, List.of())) {
                if (v.holder() != null) {
                    fromRows.add(v.epoch() + " " + v.holder());
                } else {
                    holderless.add(v.epoch());
                }
            }
            for (String held : fromRows) {
                if (!fromHistory.contains(held)) {
                    violations.add(partition + ": the row was held at epoch " + held.replace(" ", " by ")
                            + " but history has no such acquisition");
                }
            }
            for (String held : fromHistory) {
                if (!fromRows.contains(held)) {
                    violations.add(partition + ": history says epoch " + held.replace(" ", " went to ")
                            + " but no version of the row ever said so");
                }
            }
            for (long epoch : releases) {
                if (!holderless.contains(epoch)) {
                    violations.add(partition + ": history has a release at epoch " + epoch
                            + " but no version of the row was ever free at that epoch");
                }
            }
            Version last = finalRows.get(partition);
            if (last == null) {
                if (!changes.isEmpty()) {
                    violations.add(partition + ": history exists but the row does not");
                }
                continue;
            }
            Change tail = changes.isEmpty() ? null : changes.get(changes.size() - 1);
            long tailEpoch = tail == null ? 0 : tail.epoch();
            String tailHolder = tail == null ? null : tail.to();
            if (last.epoch() != tailEpoch || !Objects.equals(last.holder(), tailHolder)) {
                violations.add(partition + ": the row ends at epoch " + last.epoch() + " held by " + last.holder()
                        + ", history ends at epoch " + tailEpoch + " with " + (tailHolder == null ? "no holder" : tailHolder));
            }
        }
    }

    /** A grant an agent was told of must be in history, to that agent at that epoch. */
    private static void checkObserved(Observed o, List<Change> list, List<String> violations) {
        boolean found = list.stream().anyMatch(ch -> ch.epoch() == o.epoch() && o.agent().equals(ch.to()));
        if (!found) {
            violations.add(o.agent() + " was told it holds " + o.topic() + "/" + o.partition() + " at epoch " + o.epoch()
                    + ", which history never gave it");
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
        String what = w.describe();
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

    /**
     * One incarnation per epoch: the writer's own tag must be the incarnation the row named at that
     * epoch, and no other incarnation may have written at it.
     */
    private static void checkIncarnation(Write w, List<Version> versions, Map<String, String> incarnationOfEpoch,
                                         List<String> violations) {
        String incarnation = w.agent() + " session " + w.session();
        String epochKey = key(w.topic(), w.partition()) + "@" + w.epoch();
        String first = incarnationOfEpoch.putIfAbsent(epochKey, incarnation);
        if (first != null && !first.equals(incarnation)) {
            violations.add(epochKey + " carries records of two incarnations: " + first + " and " + incarnation);
        }
        boolean holderAtEpoch = versions.stream().anyMatch(v -> v.epoch() == w.epoch() && w.agent().equals(v.holder())
                && Objects.equals(v.session(), w.session()));
        if (!holderAtEpoch) {
            violations.add(w.describe() + ": no version of the row had that incarnation holding that epoch");
        }
    }

    /**
     * The writer's session, as last committed before the record, was live when the record
     * committed: not ended, not replaced by a newer incarnation, not past its expiry. Each within
     * the commit stamp's slack: the commit-time check reads the session just before the commit
     * record is stamped, and a change committed in between is not a stale write (the share lock on
     * the lease row still orders the record before any takeover).
     */
    private static void checkSessionAtCommit(Write w, List<SessionVersion> versions, Duration commitSlack,
                                             List<String> violations) {
        java.time.Instant committed = w.committed().toInstant(); // microseconds, as PostgreSQL stamps them
        SessionVersion mine = null;
        SessionVersion replaced = null;
        for (SessionVersion v : versions) {
            if (v.committed().after(w.committed())) {
                break;
            }
            if (v.session() == w.session()) {
                mine = v;
                replaced = null;
            } else if (mine != null && replaced == null) {
                replaced = v;
            }
        }
        if (mine == null) {
            violations.add(w.describe() + ": committed at " + w.committed() + ", before that session existed");
        } else if (replaced != null && committed.isAfter(replaced.committed().toInstant().plus(commitSlack))) {
            violations.add(w.describe() + ": committed at " + w.committed() + ", after session " + replaced.session()
                    + " replaced it at " + replaced.committed());
        } else if (mine.ended() != null && committed.isAfter(mine.ended().toInstant().plus(commitSlack))) {
            violations.add(w.describe() + ": committed at " + w.committed() + ", after its session ended at "
                    + mine.ended());
        } else if (committed.isAfter(mine.expires().toInstant().plus(commitSlack))) {
            violations.add(w.describe() + ": committed at " + w.committed() + ", "
                    + Duration.between(mine.expires().toInstant(), committed).toMillis()
                    + " ms after its session expired at " + mine.expires());
        }
    }
}
