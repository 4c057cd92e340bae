package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.model.Names;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;

/** {@link LeaseStore} on PostgreSQL; SQL in {@link LeaseSql}, schema under db/migration. */
public final class PostgresLeaseStore implements LeaseStore {

    private final DataSource dataSource;

    public PostgresLeaseStore(DataSource dataSource) {
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
    }

    // ------------------------------------------------------------------ sessions

    @Override
    public Session register(AgentRegistration registration) {
        Objects.requireNonNull(registration, "registration");
        long ttlMs = registration.ttl().toMillis();
        return query("register " + registration.agent(), LeaseSql.REGISTER, ps -> {
            ps.setString(1, registration.agent().value());
            ps.setString(2, registration.group());
            ps.setString(3, registration.zone());
            ps.setString(4, registration.address());
            ps.setInt(5, (int) ttlMs);
        }, rs -> {
            rs.next();
            return session(rs);
        });
    }

    @Override
    public Renewal renew(AgentId agent, long sessionEpoch) {
        Objects.requireNonNull(agent, "agent");
        try {
            return query("renew " + agent, LeaseSql.RENEW, ps -> {
                ps.setString(1, agent.value());
                ps.setLong(2, sessionEpoch);
            }, rs -> {
                rs.next();
                return Renewal.RENEWED;
            });
        } catch (StoreException e) {
            String state = e.getCause() instanceof SQLException sql ? sql.getSQLState() : null;
            if ("SH003".equals(state)) {
                return Renewal.SUPERSEDED;
            } else if ("SH004".equals(state)) {
                return Renewal.EXPIRED;
            } else if ("SH007".equals(state)) {
                return Renewal.UNKNOWN;
            }
            throw e;
        }
    }

    @Override
    public Set<AgentId> renewAll(Collection<SessionRef> sessions) {
        Objects.requireNonNull(sessions, "sessions");
        if (sessions.isEmpty()) {
            return Set.of();
        }
        String[] agents = new String[sessions.size()];
        Long[] epochs = new Long[sessions.size()];
        int i = 0;
        for (SessionRef ref : sessions) {
            agents[i] = Objects.requireNonNull(ref, "session ref").agent().value();
            epochs[i++] = ref.sessionEpoch();
        }
        return query("renew " + sessions.size() + " sessions", LeaseSql.RENEW_ALL, ps -> {
            ps.setArray(1, ps.getConnection().createArrayOf("varchar", agents));
            ps.setArray(2, ps.getConnection().createArrayOf("bigint", epochs));
        }, rs -> {
            Set<AgentId> renewed = new HashSet<>();
            while (rs.next()) {
                renewed.add(new AgentId(rs.getString(1)));
            }
            return renewed;
        });
    }

    @Override
    public boolean updateRegistration(AgentRegistration registration, long sessionEpoch) {
        Objects.requireNonNull(registration, "registration");
        return query("update session of " + registration.agent(), LeaseSql.UPDATE, ps -> {
            ps.setString(1, registration.agent().value());
            ps.setLong(2, sessionEpoch);
            ps.setString(3, registration.group());
            ps.setString(4, registration.zone());
            ps.setString(5, registration.address());
            ps.setInt(6, (int) registration.ttl().toMillis());
        }, PostgresLeaseStore::firstBoolean);
    }

    @Override
    public boolean expire(AgentId agent, long sessionEpoch) {
        Objects.requireNonNull(agent, "agent");
        return query("end session of " + agent, LeaseSql.END_SESSION, ps -> {
            ps.setString(1, agent.value());
            ps.setLong(2, sessionEpoch);
        }, PostgresLeaseStore::firstBoolean);
    }

    @Override
    public Optional<Session> session(AgentId agent) {
        Objects.requireNonNull(agent, "agent");
        return query("read session of " + agent, LeaseSql.SESSION,
                ps -> ps.setString(1, agent.value()),
                rs -> rs.next() ? Optional.of(session(rs)) : Optional.empty());
    }

    @Override
    public List<Session> sessions() {
        return query("list sessions", LeaseSql.SESSIONS, ps -> { }, rs -> {
            List<Session> all = new ArrayList<>();
            while (rs.next()) {
                all.add(session(rs));
            }
            return all;
        });
    }

    // ------------------------------------------------------------------ leases

    @Override
    public AcquireResult acquire(AcquireRequest request, String reason) {
        Objects.requireNonNull(request, "request");
        Names.reason(reason);
        return query("acquire " + request.key(), LeaseSql.ACQUIRE, ps -> {
            ps.setString(1, request.key().topic());
            ps.setInt(2, request.key().partition());
            ps.setString(3, request.agent().value());
            ps.setLong(4, request.sessionEpoch());
            if (request.expectedHolder() == null) {
                ps.setNull(5, Types.VARCHAR);
                ps.setNull(6, Types.BIGINT);
            } else {
                ps.setString(5, request.expectedHolder().value());
                ps.setLong(6, request.expectedEpoch());
            }
            ps.setString(7, reason);
        }, rs -> {
            rs.next();
            return acquireResult(request.key(), rs);
        });
    }

    @Override
    public List<AcquireResult> acquireAll(Collection<AcquireRequest> requests, String reason) {
        Objects.requireNonNull(requests, "requests");
        Names.reason(reason);
        if (requests.isEmpty()) {
            return List.of();
        }
        int n = requests.size();
        String[] topics = new String[n];
        Integer[] partitions = new Integer[n];
        String[] agents = new String[n];
        Long[] sessions = new Long[n];
        String[] expectedHolders = new String[n];
        Long[] expectedEpochs = new Long[n];
        Set<LeaseKey> seen = new HashSet<>();
        int i = 0;
        for (AcquireRequest r : requests) {
            Objects.requireNonNull(r, "request");
            if (!seen.add(r.key())) {
                throw new IllegalArgumentException("batch names " + r.key() + " twice");
            }
            topics[i] = r.key().topic();
            partitions[i] = r.key().partition();
            agents[i] = r.agent().value();
            sessions[i] = r.sessionEpoch();
            expectedHolders[i] = r.expectedHolder() == null ? null : r.expectedHolder().value();
            expectedEpochs[i] = r.expectedHolder() == null ? null : r.expectedEpoch();
            i++;
        }
        return query("acquire " + n + " leases", LeaseSql.ACQUIRE_BATCH, ps -> {
            Connection c = ps.getConnection();
            ps.setArray(1, c.createArrayOf("varchar", topics));
            ps.setArray(2, c.createArrayOf("integer", partitions));
            ps.setArray(3, c.createArrayOf("varchar", agents));
            ps.setArray(4, c.createArrayOf("bigint", sessions));
            ps.setArray(5, c.createArrayOf("varchar", expectedHolders));
            ps.setArray(6, c.createArrayOf("bigint", expectedEpochs));
            ps.setString(7, reason);
        }, rs -> {
            List<AcquireResult> results = new ArrayList<>(n);
            while (rs.next()) {
                results.add(acquireResult(new LeaseKey(rs.getString("topic"), rs.getInt("partition")), rs));
            }
            return results;
        });
    }

    @Override
    public ReleaseResult release(LeaseKey key, AgentId holder, long sessionEpoch, long epoch, String reason) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(holder, "holder");
        Names.reason(reason);
        boolean released = query("release " + key, LeaseSql.RELEASE, ps -> {
            ps.setString(1, key.topic());
            ps.setInt(2, key.partition());
            ps.setString(3, holder.value());
            ps.setLong(4, sessionEpoch);
            ps.setLong(5, epoch);
            ps.setString(6, reason);
        }, PostgresLeaseStore::firstBoolean);
        return new ReleaseResult(released, rowAfterRelease(key, holder, sessionEpoch));
    }

    /**
     * The row after a release, for the result. An agent's own login may not read the tables: it
     * gets holder and epoch as lease_validate reports them (session and times unknown).
     */
    private Lease rowAfterRelease(LeaseKey key, AgentId holder, long sessionEpoch) {
        try {
            return lease(key).orElse(Lease.unknown(key));
        } catch (AccessDeniedException e) {
            Validation row = validate(key, holder, sessionEpoch, 0);
            return new Lease(key, row.currentHolder(), 0, row.currentEpoch(), null, null, null,
                    row.currentHolder() != null);
        }
    }

    @Override
    public List<LeaseKey> releaseAll(AgentId holder, long sessionEpoch, String reason) {
        return releaseAll("release all leases of ", LeaseSql.RELEASE_ALL, holder, sessionEpoch, reason);
    }

    @Override
    public List<LeaseKey> shutdown(AgentId holder, long sessionEpoch, String reason) {
        return releaseAll("shut down ", LeaseSql.SHUTDOWN, holder, sessionEpoch, reason);
    }

    private List<LeaseKey> releaseAll(String what, String sql, AgentId holder, long sessionEpoch, String reason) {
        Objects.requireNonNull(holder, "holder");
        Names.reason(reason);
        return query(what + holder, sql, ps -> {
            ps.setString(1, holder.value());
            ps.setLong(2, sessionEpoch);
            ps.setString(3, reason);
        }, rs -> {
            List<LeaseKey> keys = new ArrayList<>();
            while (rs.next()) {
                keys.add(new LeaseKey(rs.getString(1), rs.getInt(2)));
            }
            return keys;
        });
    }

    @Override
    public boolean mapAgent(AgentId agent, String dbUser) {
        Objects.requireNonNull(agent, "agent");
        String user = Names.databaseUser(dbUser);
        return update("map agent " + agent + " to database user " + user, LeaseSql.MAP_AGENT, ps -> {
            ps.setString(1, agent.value());
            ps.setString(2, user);
        }) > 0;
    }

    @Override
    public boolean unmapAgent(AgentId agent) {
        Objects.requireNonNull(agent, "agent");
        return update("unmap agent " + agent, LeaseSql.UNMAP_AGENT, ps -> ps.setString(1, agent.value())) > 0;
    }

    @Override
    public Optional<String> agentLogin(AgentId agent) {
        Objects.requireNonNull(agent, "agent");
        return query("read the database user of " + agent, LeaseSql.AGENT_LOGIN, ps -> ps.setString(1, agent.value()),
                rs -> rs.next() ? Optional.of(rs.getString(1)) : Optional.empty());
    }

    @Override
    public Validation validate(LeaseKey key, AgentId agent, long sessionEpoch, long epoch) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(agent, "agent");
        return query("validate " + key, LeaseSql.VALIDATE, ps -> {
            ps.setString(1, key.topic());
            ps.setInt(2, key.partition());
            ps.setString(3, agent.value());
            ps.setLong(4, sessionEpoch);
            ps.setLong(5, epoch);
        }, rs -> {
            rs.next();
            return new Validation(Validation.Status.valueOf(rs.getString("status")), agentOrNull(rs.getString("holder")),
                    rs.getLong("epoch"));
        });
    }

    @Override
    public <T> T fenced(LeaseKey key, AgentId agent, long sessionEpoch, long epoch, FencedWork<T> work) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(agent, "agent");
        Objects.requireNonNull(work, "work");
        Connection c;
        try {
            c = dataSource.getConnection();
        } catch (SQLException e) {
            throw failure("fenced write to " + key, e);
        }
        boolean fenced = false;
        long deadline = 0; // System.nanoTime() at which the session's time, as the fence measured it, runs out
        try (c) {
            boolean autoCommit = c.getAutoCommit();
            try {
                // The fenced transaction runs at the connection's isolation level, which must be
                // READ COMMITTED (PostgreSQL's default): the commit-time check must see the
                // session as it is at commit. The fence refuses any other (SQLSTATE SH008); not
                // setting it here saves two round trips on every write.
                c.setAutoCommit(false);
                try (PreparedStatement ps = c.prepareStatement(LeaseSql.FENCE)) {
                    ps.setString(1, key.topic());
                    ps.setInt(2, key.partition());
                    ps.setString(3, agent.value());
                    ps.setLong(4, sessionEpoch);
                    ps.setLong(5, epoch);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(rs.getLong(1));
                    }
                }
                fenced = true;
                T result = work.run(c);
                commit(c, key);
                return result;
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly(c, e);
                throw e;
            } finally {
                restoreQuietly(c, autoCommit);
            }
        } catch (SQLException e) {
            Validation.Status refused = Validation.ofSqlState(e.getSQLState());
            if (refused == null && fenced && (ranOutOfSessionTime(e)
                    || isConnectionFailure(e) && System.nanoTime() - deadline >= 0)) {
                // Cut off by the bound the fence set: the server cancels a statement, or closes a
                // connection left idle, when the session's time runs out (the closing may reach
                // the client as a plain connection failure). COMMIT was not sent: a failure
                // during COMMIT is reported as unknown outcome by commit() instead.
                refused = Validation.Status.EXPIRED;
            }
            if (refused != null) {
                throw new FencingException(key, agent, sessionEpoch, epoch, refusal(key, agent, sessionEpoch, refused), e.getMessage(), e);
            }
            if ("SH008".equals(e.getSQLState())) {
                throw new IllegalStateException("the DataSource's connections must use READ COMMITTED for fenced"
                        + " writes (" + e.getMessage() + ")", e);
            }
            throw failure("fenced write to " + key, e);
        }
    }

    /**
     * A statement or lock wait cancelled by the bound the fence set (57014, 55P03), or the
     * connection closed by the server for idling past it (25P03): the transaction was rolled back
     * because the session's time ran out, which is a refusal, not a failure of the store.
     */
    private static boolean ranOutOfSessionTime(SQLException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException s && s.getSQLState() != null
                    && (s.getSQLState().equals("57014") || s.getSQLState().equals("55P03")
                        || s.getSQLState().equals("25P03"))) {
                return true;
            }
        }
        return false;
    }

    /**
     * The refusal with the row as it stands, for the message (best effort: the refusal stands
     * anyway). Read through lease_validate, which an agent may call: it may not read the tables.
     */
    private Validation refusal(LeaseKey key, AgentId agent, long sessionEpoch, Validation.Status status) {
        try {
            Validation row = validate(key, agent, sessionEpoch, 0);
            return new Validation(status, row.currentHolder(), row.currentEpoch());
        } catch (StoreException e) {
            return new Validation(status, null, 0);
        }
    }

    @Override
    public long assignmentsVersion(AgentId agent) {
        Objects.requireNonNull(agent, "agent");
        return query("read the assignments version of " + agent, LeaseSql.ASSIGNMENTS_VERSION,
                ps -> ps.setString(1, agent.value()), rs -> {
                    rs.next();
                    return rs.getLong(1);
                });
    }

    @Override
    public Optional<AssignmentChanges> assignmentChanges(AgentId agent, long sessionEpoch, long sinceVersion) {
        Objects.requireNonNull(agent, "agent");
        try {
            return Optional.of(query("read assignment changes of " + agent, LeaseSql.ASSIGNMENT_CHANGES, ps -> {
                ps.setString(1, agent.value());
                ps.setLong(2, sessionEpoch);
                ps.setLong(3, sinceVersion);
            }, rs -> {
                List<Assignment> held = new ArrayList<>();
                List<LeaseKey> gone = new ArrayList<>();
                while (rs.next()) {
                    LeaseKey key = new LeaseKey(rs.getString("topic"), rs.getInt("partition"));
                    long epoch = rs.getLong("epoch");
                    if (rs.wasNull()) {
                        gone.add(key);
                    } else {
                        held.add(new Assignment(key, epoch, agentOrNull(rs.getString("handoff_to"))));
                    }
                }
                return new AssignmentChanges(held, gone);
            }));
        } catch (StoreException e) {
            if (e.getCause() instanceof SQLException sql && "SH010".equals(sql.getSQLState())) {
                return Optional.empty(); // not live, or no longer kept: the caller reads everything
            }
            throw e;
        }
    }

    @Override
    public void forgetAssignmentChanges(AgentId agent) {
        Objects.requireNonNull(agent, "agent");
        query("forget the assignment changes of " + agent, LeaseSql.FORGET_AGENT_CHANGES,
                ps -> ps.setString(1, agent.value()), rs -> null);
    }

    @Override
    public List<Assignment> assignments(AgentId agent, long sessionEpoch) {
        Objects.requireNonNull(agent, "agent");
        return query("read assignments of " + agent, LeaseSql.ASSIGNMENTS, ps -> {
            ps.setString(1, agent.value());
            ps.setLong(2, sessionEpoch);
        }, rs -> {
            List<Assignment> all = new ArrayList<>();
            while (rs.next()) {
                all.add(new Assignment(new LeaseKey(rs.getString("topic"), rs.getInt("partition")), rs.getLong("epoch"),
                        agentOrNull(rs.getString("handoff_to"))));
            }
            return all;
        });
    }

    @Override
    public boolean requestHandoff(LeaseKey key, AgentId holder, long sessionEpoch, long epoch, AgentId target) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(holder, "holder");
        Objects.requireNonNull(target, "target");
        return query("ask " + holder + " to hand " + key + " off", LeaseSql.REQUEST_HANDOFF, ps -> {
            ps.setString(1, key.topic());
            ps.setInt(2, key.partition());
            ps.setString(3, holder.value());
            ps.setLong(4, sessionEpoch);
            ps.setLong(5, epoch);
            ps.setString(6, target.value());
        }, PostgresLeaseStore::firstBoolean);
    }

    @Override
    public boolean cancelHandoff(LeaseKey key) {
        Objects.requireNonNull(key, "key");
        return query("cancel the handoff of " + key, LeaseSql.CANCEL_HANDOFF, ps -> {
            ps.setString(1, key.topic());
            ps.setInt(2, key.partition());
        }, PostgresLeaseStore::firstBoolean);
    }

    @Override
    public Optional<Lease> lease(LeaseKey key) {
        Objects.requireNonNull(key, "key");
        return query("read lease " + key, LeaseSql.LEASE, ps -> {
            ps.setString(1, key.topic());
            ps.setInt(2, key.partition());
        }, rs -> rs.next() ? Optional.of(lease(key, rs)) : Optional.empty());
    }

    @Override
    public List<Lease> leasesHeldBy(AgentId holder) {
        Objects.requireNonNull(holder, "holder");
        return query("read leases of " + holder, LeaseSql.LEASES_BY_HOLDER,
                ps -> ps.setString(1, holder.value()), PostgresLeaseStore::leases);
    }

    @Override
    public List<Lease> leasesOf(String topic) {
        Names.topic(topic);
        return query("read leases of topic " + topic, LeaseSql.LEASES_OF_TOPIC, ps -> ps.setString(1, topic),
                PostgresLeaseStore::leases);
    }

    @Override
    public List<LeaseKey> unheldPartitions(Map<String, Integer> partitionsByTopic) {
        if (partitionsByTopic.isEmpty()) {
            return List.of();
        }
        String[] topics = new String[partitionsByTopic.size()];
        Integer[] counts = new Integer[topics.length];
        int i = 0;
        for (Map.Entry<String, Integer> e : partitionsByTopic.entrySet()) {
            topics[i] = Names.topic(e.getKey());
            if (e.getValue() == null || e.getValue() < 0) {
                throw new IllegalArgumentException("partitions of topic " + e.getKey() + " must be >= 0, got " + e.getValue());
            }
            counts[i++] = e.getValue();
        }
        return query("read unheld partitions of " + topics.length + " topics", LeaseSql.UNHELD_PARTITIONS, ps -> {
            ps.setArray(1, ps.getConnection().createArrayOf("text", topics));
            ps.setArray(2, ps.getConnection().createArrayOf("integer", counts));
        }, rs -> {
            List<LeaseKey> keys = new ArrayList<>();
            while (rs.next()) {
                keys.add(new LeaseKey(rs.getString(1), rs.getInt(2)));
            }
            return keys;
        });
    }

    @Override
    public List<LeaseKey> releasePartitions(String topic, Collection<Integer> partitions, String reason) {
        Names.topic(topic);
        Names.reason(reason);
        Integer[] numbers = partitions.toArray(Integer[]::new);
        if (numbers.length == 0) {
            return List.of();
        }
        return query("release " + numbers.length + " partitions of " + topic, LeaseSql.RELEASE_PARTITIONS, ps -> {
            ps.setString(1, topic);
            ps.setArray(2, ps.getConnection().createArrayOf("integer", numbers));
            ps.setString(3, reason);
        }, rs -> {
            List<LeaseKey> keys = new ArrayList<>();
            while (rs.next()) {
                keys.add(new LeaseKey(rs.getString("topic"), rs.getInt("partition")));
            }
            return keys;
        });
    }

    @Override
    public List<Lease> leases() {
        return query("read all leases", LeaseSql.LEASES, ps -> { }, PostgresLeaseStore::leases);
    }

    @Override
    public List<HistoryEntry> history(LeaseKey key) {
        Objects.requireNonNull(key, "key");
        return query("read history of " + key, LeaseSql.HISTORY, ps -> {
            ps.setString(1, key.topic());
            ps.setInt(2, key.partition());
        }, rs -> {
            List<HistoryEntry> entries = new ArrayList<>();
            while (rs.next()) {
                entries.add(new HistoryEntry(rs.getLong("id"), key, rs.getLong("epoch"),
                        agentOrNull(rs.getString("from_holder")), agentOrNull(rs.getString("to_holder")),
                        rs.getString("reason"), instant(rs.getTimestamp("at"))));
            }
            return entries;
        });
    }

    // ------------------------------------------------------------------ plumbing

    private interface Binder {
        void bind(PreparedStatement ps) throws SQLException;
    }

    private interface Reader<T> {
        T read(ResultSet rs) throws SQLException;
    }

    /**
     * One statement, committed: explicitly when the DataSource hands out connections with
     * auto-commit off (else its work would be rolled back when the connection returns to the
     * pool, after success had been reported).
     */
    private <T> T query(String what, String sql, Binder binder, Reader<T> reader) {
        try (Connection c = dataSource.getConnection()) {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                binder.bind(ps);
                T result;
                try (ResultSet rs = ps.executeQuery()) {
                    result = reader.read(rs);
                }
                if (!c.getAutoCommit()) {
                    c.commit();
                }
                return result;
            } catch (SQLException | RuntimeException e) {
                if (!c.getAutoCommit()) {
                    rollbackQuietly(c, e);
                }
                throw e;
            }
        } catch (SQLException e) {
            throw failure(what, e);
        }
    }

    /** One data-changing statement, committed; returns the rows it changed. */
    private int update(String what, String sql, Binder binder) {
        try (Connection c = dataSource.getConnection()) {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                binder.bind(ps);
                int rows = ps.executeUpdate();
                if (!c.getAutoCommit()) {
                    c.commit();
                }
                return rows;
            } catch (SQLException | RuntimeException e) {
                if (!c.getAutoCommit()) {
                    rollbackQuietly(c, e);
                }
                throw e;
            }
        } catch (SQLException e) {
            throw failure(what, e);
        }
    }

    private static boolean firstBoolean(ResultSet rs) throws SQLException {
        rs.next();
        return rs.getBoolean(1);
    }

    private static List<Lease> leases(ResultSet rs) throws SQLException {
        List<Lease> all = new ArrayList<>();
        while (rs.next()) {
            all.add(lease(new LeaseKey(rs.getString("topic"), rs.getInt("partition")), rs));
        }
        return all;
    }

    private static Lease lease(LeaseKey key, ResultSet rs) throws SQLException {
        return new Lease(key, agentOrNull(rs.getString("holder")), rs.getLong("holder_session"),
                rs.getLong("epoch"), agentOrNull(rs.getString("previous_holder")),
                instant(rs.getTimestamp("acquired_at")),
                instant(rs.getTimestamp("updated_at")), rs.getBoolean("holder_live"));
    }

    private static AcquireResult acquireResult(LeaseKey key, ResultSet rs) throws SQLException {
        return new AcquireResult(AcquireResult.Outcome.valueOf(rs.getString("outcome")), lease(key, rs),
                instant(rs.getTimestamp("unheld_since")));
    }

    private static Session session(ResultSet rs) throws SQLException {
        return new Session(new AgentId(rs.getString("agent_id")), rs.getLong("session_epoch"),
                rs.getString("agent_group"), rs.getString("zone"), rs.getString("address"),
                Duration.ofMillis(rs.getInt("ttl_ms")), instant(rs.getTimestamp("registered_at")),
                instant(rs.getTimestamp("renewed_at")), instant(rs.getTimestamp("expires_at")),
                rs.getBoolean("live"), instant(rs.getTimestamp("observed_at")));
    }

    private static AgentId agentOrNull(String value) {
        return value == null ? null : new AgentId(value);
    }

    private static Instant instant(Timestamp ts) {
        return ts == null ? null : ts.toInstant();
    }

    private static void commit(Connection c, LeaseKey key) throws SQLException {
        try {
            c.commit();
        } catch (SQLException e) {
            if (isConnectionFailure(e)) {
                // The COMMIT may or may not have reached the server: never report it as done.
                throw new StoreUnavailableException("lease store unavailable while committing a fenced"
                        + " write to " + key + "; its outcome is unknown (" + e.getMessage() + ")", e);
            }
            throw e;
        }
    }

    private static void restoreQuietly(Connection c, boolean autoCommit) {
        try {
            if (!c.isClosed()) {
                c.setAutoCommit(autoCommit);
            }
        } catch (SQLException e) {
            // the pool resets or discards the connection
        }
    }

    private static void rollbackQuietly(Connection c, Exception cause) {
        try {
            c.rollback();
        } catch (SQLException e) {
            cause.addSuppressed(e);
        }
    }

    /** Maps a JDBC failure to the store's exceptions: unavailable versus failed. */
    static StoreException failure(String what, SQLException e) {
        if (isConnectionFailure(e)) {
            return new StoreUnavailableException("lease store unavailable: could not " + what
                    + " (" + e.getMessage() + ")", e);
        }
        if ("SH009".equals(e.getSQLState()) || "42501".equals(e.getSQLState())) {
            return new AccessDeniedException("lease store refused to " + what + ": " + e.getMessage(), e);
        }
        return new StoreException("lease store failed to " + what + ": " + e.getMessage(), e);
    }

    private static boolean isConnectionFailure(SQLException e) {
        if (e instanceof SQLTransientConnectionException) {
            return true; // HikariCP: no connection within connectionTimeout
        }
        String state = e.getSQLState();
        return state != null && (state.startsWith("08")      // connection exception
                || state.equals("57P01") || state.equals("57P02") || state.equals("57P03") // shutdown
                || state.equals("53300"));                   // too many connections
    }
}
