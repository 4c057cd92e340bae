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
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
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
            ps.setLong(6, ttlMs);
        }, rs -> {
            rs.next();
            return session(rs);
        });
    }

    @Override
    public boolean renew(AgentId agent, long sessionEpoch) {
        Objects.requireNonNull(agent, "agent");
        return update("renew " + agent, LeaseSql.RENEW, ps -> {
            ps.setString(1, agent.value());
            ps.setLong(2, sessionEpoch);
        }) == 1;
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
        return update("update session of " + registration.agent(), LeaseSql.UPDATE, ps -> {
            ps.setString(1, registration.zone());
            ps.setString(2, registration.address());
            ps.setInt(3, (int) registration.ttl().toMillis());
            ps.setString(4, registration.agent().value());
            ps.setLong(5, sessionEpoch);
            ps.setString(6, registration.group());
        }) == 1;
    }

    @Override
    public boolean expire(AgentId agent, long sessionEpoch) {
        Objects.requireNonNull(agent, "agent");
        return update("expire session of " + agent, LeaseSql.EXPIRE, ps -> {
            ps.setString(1, agent.value());
            ps.setLong(2, sessionEpoch);
        }) == 1;
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
    public ReleaseResult release(LeaseKey key, AgentId holder, long epoch, String reason) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(holder, "holder");
        Names.reason(reason);
        long released = query("release " + key, LeaseSql.RELEASE, ps -> {
            ps.setString(1, key.topic());
            ps.setInt(2, key.partition());
            ps.setString(3, holder.value());
            ps.setLong(4, epoch);
            ps.setString(5, holder.value());
            ps.setString(6, reason);
        }, rs -> {
            rs.next();
            return rs.getLong(1);
        });
        return new ReleaseResult(released == 1, lease(key).orElse(Lease.unknown(key)));
    }

    @Override
    public List<LeaseKey> releaseAll(AgentId holder, long sessionEpoch, String reason) {
        Objects.requireNonNull(holder, "holder");
        Names.reason(reason);
        return query("release all leases of " + holder, LeaseSql.RELEASE_ALL, ps -> {
            ps.setString(1, holder.value());
            ps.setLong(2, sessionEpoch);
            ps.setString(3, holder.value());
            ps.setString(4, reason);
        }, rs -> {
            List<LeaseKey> keys = new ArrayList<>();
            while (rs.next()) {
                keys.add(new LeaseKey(rs.getString(1), rs.getInt(2)));
            }
            return keys;
        });
    }

    @Override
    public Validation validate(LeaseKey key, AgentId agent, long epoch) {
        Objects.requireNonNull(agent, "agent");
        return Validation.judge(lease(key).orElse(Lease.unknown(key)), agent, epoch);
    }

    @Override
    public <T> T fenced(LeaseKey key, AgentId agent, long epoch, FencedWork<T> work) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(agent, "agent");
        Objects.requireNonNull(work, "work");
        Connection c;
        try {
            c = dataSource.getConnection();
        } catch (SQLException e) {
            throw failure("fenced write to " + key, e);
        }
        try (c) {
            c.setAutoCommit(false);
            try {
                Lease lease = readLease(c, LeaseSql.LEASE_FOR_SHARE, key).orElse(Lease.unknown(key));
                Validation validation = Validation.judge(lease, agent, epoch);
                if (!validation.isValid()) {
                    c.rollback();
                    throw new FencingException(key, agent, epoch, validation);
                }
                T result = work.run(c);
                commit(c, key);
                return result;
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly(c, e);
                throw e;
            }
        } catch (SQLException e) {
            throw failure("fenced write to " + key, e);
        }
    }

    @Override
    public Optional<Lease> lease(LeaseKey key) {
        Objects.requireNonNull(key, "key");
        try (Connection c = dataSource.getConnection()) {
            return readLease(c, LeaseSql.LEASE, key);
        } catch (SQLException e) {
            throw failure("read lease " + key, e);
        }
    }

    @Override
    public List<Lease> leasesHeldBy(AgentId holder) {
        Objects.requireNonNull(holder, "holder");
        return query("read leases of " + holder, LeaseSql.LEASES_BY_HOLDER,
                ps -> ps.setString(1, holder.value()), PostgresLeaseStore::leases);
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

    private <T> T query(String what, String sql, Binder binder, Reader<T> reader) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement(sql)) {
            binder.bind(ps);
            try (ResultSet rs = ps.executeQuery()) {
                return reader.read(rs);
            }
        } catch (SQLException e) {
            throw failure(what, e);
        }
    }

    private int update(String what, String sql, Binder binder) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement(sql)) {
            binder.bind(ps);
            return ps.executeUpdate();
        } catch (SQLException e) {
            throw failure(what, e);
        }
    }

    private static Optional<Lease> readLease(Connection c, String sql, LeaseKey key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, key.topic());
            ps.setInt(2, key.partition());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(lease(key, rs)) : Optional.empty();
            }
        }
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
        return new AcquireResult(AcquireResult.Outcome.valueOf(rs.getString("outcome")), lease(key, rs));
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
