package io.streamhouse.lease.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * Least privilege in the database (V8, issue 18), against a real PostgreSQL of its own where every
 * party logs in with its own password (scram-sha-256): the schema owner migrates and grants, the
 * operator's login gets the operator's privileges, each agent's login is a member of the agents'
 * role. One test per way around it: writing a table directly, calling the operator's functions,
 * acting as another agent id, writing the mapping, shadowing a table through the search path, and
 * a forged notification.
 */
class LeastPrivilegeTest {

    static final Duration TTL = Duration.ofSeconds(30);
    static LocalPostgres server;
    static HikariDataSource owner;
    static HikariDataSource operatorPool;
    static HikariDataSource agentAPool;
    static HikariDataSource agentBPool;
    static PostgresLeaseStore operator;
    static PostgresLeaseStore agentA;
    static PostgresLeaseStore agentB;
    static String url;

    static final AgentId A = AgentId.of("agent-a");
    static final AgentId B = AgentId.of("agent-b");
    static final AtomicInteger TOPICS = new AtomicInteger();
    LeaseKey key;

    @BeforeAll
    static void rolesAndPasswords() throws Exception {
        server = LocalPostgres.start(null);
        try (Connection c = DriverManager.getConnection(server.jdbcUrl("postgres"), "postgres", "postgres");
             Statement s = c.createStatement()) {
            s.execute("CREATE ROLE sh_owner LOGIN PASSWORD 'owner-secret'");
            s.execute("CREATE ROLE sh_operator LOGIN PASSWORD 'operator-secret'");
            s.execute("CREATE ROLE sh_agents NOLOGIN");
            s.execute("CREATE ROLE \"agent-a\" LOGIN PASSWORD 'a-secret' IN ROLE sh_agents");
            s.execute("CREATE ROLE \"agent-b\" LOGIN PASSWORD 'b-secret' IN ROLE sh_agents");
            s.execute("CREATE DATABASE leases OWNER sh_owner");
            // Passwords count from here on: only the superuser keeps trust, for this set-up.
            Path hba;
            try (ResultSet rs = s.executeQuery("SHOW hba_file")) {
                rs.next();
                hba = Path.of(rs.getString(1));
            }
            Files.writeString(hba, """
                    local all all trust
                    host all postgres 127.0.0.1/32 trust
                    host all postgres ::1/128 trust
                    host all all 127.0.0.1/32 scram-sha-256
                    host all all ::1/128 scram-sha-256
                    """);
            s.execute("SELECT pg_reload_conf()");
        }
        // Without the user the embedded server's URL names (?user=postgres), which would win over
        // each pool's own and make every login the superuser.
        url = server.jdbcUrl("leases").replaceAll("\\?.*", "");
        Awaitility.await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> {
            try (Connection c = DriverManager.getConnection(url, "agent-a", "wrong")) {
                return false; // the reload has not taken yet
            } catch (SQLException e) {
                return "28P01".equals(e.getSQLState());
            }
        });
        owner = pool("sh_owner", "owner-secret");
        Database.migrate(owner);
        DatabaseGrants.grant(owner, "sh_operator", "sh_agents");
        operatorPool = pool("sh_operator", "operator-secret");
        agentAPool = pool("agent-a", "a-secret");
        agentBPool = pool("agent-b", "b-secret");
        operator = new PostgresLeaseStore(operatorPool);
        agentA = new PostgresLeaseStore(agentAPool);
        agentB = new PostgresLeaseStore(agentBPool);
    }

    static HikariDataSource pool(String user, String password) {
        return Database.pool(new Database.PoolSettings(url, user, password, 4, Duration.ofSeconds(5)), "pool-" + user);
    }

    @AfterAll
    static void stop() {
        for (HikariDataSource ds : new HikariDataSource[] {agentBPool, agentAPool, operatorPool, owner}) {
            if (ds != null) {
                ds.close();
            }
        }
        if (server != null) {
            server.close();
        }
    }

    @BeforeEach
    void eachAgentMayActAsItself() {
        key = LeaseKey.of("orders-" + TOPICS.incrementAndGet(), 0);
        operator.mapAgent(A, "agent-a");
        operator.mapAgent(B, "agent-b");
    }

    static AgentRegistration registration(AgentId agent) {
        return new AgentRegistration(agent, "default", "z1", "", TTL);
    }

    /** Agent A registered by itself and holding {@link #key} (the operator's CAS). */
    long aHoldsTheKey() {
        long session = agentA.register(registration(A)).sessionEpoch();
        assertThat(operator.acquire(AcquireRequest.ifFree(key, A, session), "Assigned").outcome())
                .isEqualTo(AcquireResult.Outcome.ACQUIRED);
        return session;
    }

    static String sqlStateOf(HikariDataSource ds, String sql) {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
            return null;
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }

    static boolean booleanOf(HikariDataSource ds, String sql) {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getBoolean(1);
        } catch (SQLException e) {
            throw new AssertionError(sql + ": " + e.getMessage(), e);
        }
    }

    @Test
    void aPasswordLogsInOnlyAsItsOwnUser() {
        assertThatThrownBy(() -> DriverManager.getConnection(url, "agent-b", "a-secret").close())
                .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("28P01"));
    }

    @Test
    void anAgentActsAsItselfThroughTheWholeProtocol() {
        long session = aHoldsTheKey();

        assertThat(agentA.renew(A, session)).isEqualTo(Renewal.RENEWED);
        assertThat(agentA.session(A)).get().extracting(Session::live).isEqualTo(true);
        assertThat(agentA.assignments(A, session)).extracting(Assignment::key).containsExactly(key);
        assertThat(agentA.validate(key, A, session, 1).status()).isEqualTo(Validation.Status.VALID);
        String written = agentA.fenced(key, A, session, 1, c -> "written");
        assertThat(written).isEqualTo("written");
        ReleaseResult released = agentA.release(key, A, session, 1, "Released");
        assertThat(released.released()).isTrue();
        assertThat(released.lease().epoch()).isEqualTo(1);
        assertThat(agentA.shutdown(A, session, "Shutdown")).isEmpty();
        assertThat(operator.session(A)).get().extracting(Session::live).isEqualTo(false);
    }

    @Test
    void anAgentCannotActAsAnotherAgentId() {
        long bSession = agentB.register(registration(B)).sessionEpoch();
        operator.acquire(AcquireRequest.ifFree(key, B, bSession), "Assigned");
        List<Runnable> asB = List.of(
                () -> agentA.register(registration(B)),
                () -> agentA.renew(B, bSession),
                () -> agentA.updateRegistration(new AgentRegistration(B, "default", "z2", "", TTL), bSession),
                () -> agentA.expire(B, bSession),
                () -> agentA.session(B),
                () -> agentA.assignments(B, bSession),
                () -> agentA.assignmentsVersion(B),
                () -> agentA.assignmentChanges(B, bSession, 0),
                () -> agentA.validate(key, B, bSession, 1),
                () -> agentA.fenced(key, B, bSession, 1, c -> null),
                () -> agentA.release(key, B, bSession, 1, "Released"),
                () -> agentA.releaseAll(B, bSession, "Released"),
                () -> agentA.shutdown(B, bSession, "Shutdown"));
        for (Runnable call : asB) {
            assertThatThrownBy(call::run).isInstanceOf(AccessDeniedException.class)
                    .hasMessageContaining("database user agent-a may not act for agent agent-b");
        }
        // lease_held has no Java caller: called as SQL, as an agent in another language would.
        assertThat(sqlStateOf(agentAPool, "SELECT * FROM lease_held('agent-b', " + bSession + ")")).isEqualTo("SH009");

        assertThat(operator.session(B)).get().satisfies(s -> {
            assertThat(s.live()).isTrue();
            assertThat(s.sessionEpoch()).isEqualTo(bSession);
            assertThat(s.zone()).isEqualTo("z1");
        });
        assertThat(operator.lease(key)).get().satisfies(l -> {
            assertThat(l.holder()).isEqualTo(B);
            assertThat(l.epoch()).isEqualTo(1);
        });
    }

    @Test
    void anAgentHasNoPrivilegeOnAnyTable() {
        // Each table with a column to name in an UPDATE (a bad column would fail before the privilege check).
        Map<String, String> tables = Map.of("agent_session", "agent_id", "partition_lease", "holder",
                "lease_history", "reason", "lease_handoff", "target", "lease_agent_login", "db_user",
                "lease_fence_pending", "agent_id", "flyway_schema_history", "success", "lease_agent_change", "version",
                "lease_agent_change_log", "version");
        tables.forEach((table, column) -> {
            for (String sql : List.of("SELECT * FROM " + table, "DELETE FROM " + table,
                    "UPDATE " + table + " SET " + column + " = " + column, "INSERT INTO " + table + " DEFAULT VALUES")) {
                assertThat(sqlStateOf(agentAPool, sql)).as(sql).isEqualTo("42501");
            }
        });
    }

    @Test
    void anAgentCannotWriteTheMappingNotEvenForItself() {
        assertThat(sqlStateOf(agentAPool, "INSERT INTO lease_agent_login (agent_id, db_user) VALUES ('agent-x', 'agent-a')"))
                .isEqualTo("42501");
        assertThat(sqlStateOf(agentAPool, "UPDATE lease_agent_login SET db_user = 'agent-a' WHERE agent_id = 'agent-b'"))
                .isEqualTo("42501");
        assertThat(sqlStateOf(agentAPool, "DELETE FROM lease_agent_login")).isEqualTo("42501");
        assertThatThrownBy(() -> agentA.mapAgent(B, "agent-a")).isInstanceOf(AccessDeniedException.class);
        assertThat(operator.agentLogin(B)).contains("agent-b");
    }

    @Test
    void anAgentCannotCallTheOperatorsFunctions() {
        long session = agentA.register(registration(A)).sessionEpoch();
        List<Runnable> operatorCalls = List.of(
                () -> agentA.acquire(AcquireRequest.ifFree(key, A, session), "Assigned"),
                () -> agentA.acquireAll(List.of(AcquireRequest.ifFree(key, A, session)), "Assigned"),
                () -> agentA.renewAll(List.of(new LeaseStore.SessionRef(A, session))),
                () -> agentA.requestHandoff(key, A, session, 1, B),
                () -> agentA.cancelHandoff(key),
                () -> agentA.releasePartitions(key.topic(), List.of(0), "Released"),
                () -> agentA.forgetAssignmentChanges(A));
        for (Runnable call : operatorCalls) {
            assertThatThrownBy(call::run).isInstanceOf(AccessDeniedException.class).hasMessageContaining("permission denied");
        }
        for (String internal : DatabaseGrants.INTERNAL_FUNCTIONS) {
            assertThat(booleanOf(agentAPool, "SELECT has_function_privilege('" + internal + "', 'EXECUTE')"))
                    .as(internal).isFalse();
        }
        assertThat(sqlStateOf(agentAPool, "SELECT lease_act_as('agent-b')")).isEqualTo("42501");
        assertThat(sqlStateOf(agentAPool, "SELECT lease_raise('SH001', 'x')")).isEqualTo("42501");
        assertThat(operator.lease(key)).isEmpty();
    }

    @Test
    void aLoginNotMappedOrNoLongerMappedMayNotAct() {
        long session = aHoldsTheKey();
        operator.unmapAgent(A);

        assertThatThrownBy(() -> agentA.renew(A, session)).isInstanceOf(AccessDeniedException.class);
        assertThatThrownBy(() -> agentA.fenced(key, A, session, 1, c -> null)).isInstanceOf(AccessDeniedException.class)
                .hasMessageContaining("may not act for agent agent-a");
        assertThatThrownBy(() -> agentA.register(registration(A))).isInstanceOf(AccessDeniedException.class);

        operator.mapAgent(A, "agent-b"); // another login now acts for agent-a: A's login still may not
        assertThatThrownBy(() -> agentA.renew(A, session)).isInstanceOf(AccessDeniedException.class);
        assertThat(agentB.renew(A, session)).isEqualTo(Renewal.RENEWED);
    }

    @Test
    void theOperatorAndTheOwnerActForAnyAgentWithoutAMapping() {
        AgentId kept = AgentId.of("kept-by-the-operator");
        Session s = operator.register(registration(kept));
        assertThat(operator.renew(kept, s.sessionEpoch())).isEqualTo(Renewal.RENEWED);
        assertThat(operator.updateRegistration(new AgentRegistration(kept, "default", "z2", "", TTL), s.sessionEpoch()))
                .isTrue();
        operator.acquire(AcquireRequest.ifFree(key, kept, s.sessionEpoch()), "Assigned");
        assertThat(operator.release(key, kept, s.sessionEpoch(), 1, "Released").released()).isTrue();
        assertThat(new PostgresLeaseStore(owner).expire(kept, s.sessionEpoch())).isTrue();
        // ... and no agent acts for it.
        assertThatThrownBy(() -> agentA.register(registration(kept))).isInstanceOf(AccessDeniedException.class);
    }

    @Test
    void aTemporaryTableCannotStandInForTheLeaseTable() throws SQLException {
        // Unpinned, a SECURITY DEFINER function would read the caller's temporary table first
        // (pg_temp leads the default search path): agent A would "hold" what it likes.
        long session = agentA.register(registration(A)).sessionEpoch();
        try (Connection c = agentAPool.getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE TEMP TABLE partition_lease (topic varchar, partition int, holder varchar,"
                    + " holder_session bigint, epoch bigint)");
            s.execute("INSERT INTO partition_lease VALUES ('" + key.topic() + "', 0, 'agent-a', " + session + ", 1)");
            s.execute("GRANT ALL ON partition_lease TO PUBLIC"); // so that the owner, running the function, may read it
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM lease_assignments('agent-a', " + session + ")")) {
                rs.next();
                assertThat(rs.getInt(1)).isZero();
            }
            try (ResultSet rs = s.executeQuery("SELECT status FROM lease_validate('" + key.topic() + "', 0, 'agent-a', "
                    + session + ", 1)")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("NOT_HOLDER");
            }
            s.execute("DISCARD TEMP");
        }
    }

    @Test
    void everyFunctionRunsAsItsOwnerWithAPinnedPathAndOnlyForThoseGranted() throws SQLException {
        try (Connection c = owner.getConnection(); Statement s = c.createStatement()) {
            assertThat(DatabaseGrants.allFunctions(c)).as("every function is placed in one list of DatabaseGrants")
                    .containsExactlyInAnyOrderElementsOf(DatabaseGrants.knownFunctions());
            try (ResultSet rs = s.executeQuery("""
                    SELECT p.oid::regprocedure, p.prosecdef, coalesce(array_to_string(p.proconfig, ','), ''),
                           has_function_privilege('sh_agents', p.oid, 'EXECUTE'),
                           EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                                    WHERE a.grantee = 0)
                      FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
                    """)) {
                List<String> agentCallable = new CopyOnWriteArrayList<>();
                int n = 0;
                while (rs.next()) {
                    n++;
                    String f = rs.getString(1);
                    assertThat(rs.getBoolean(2)).as(f + " is SECURITY DEFINER").isTrue();
                    assertThat(rs.getString(3)).as(f + " pins its search_path").isEqualTo("search_path=public, pg_temp");
                    assertThat(rs.getBoolean(5)).as(f + " is not executable by PUBLIC").isFalse();
                    if (rs.getBoolean(4)) {
                        agentCallable.add(f.replaceAll("\\(.*", ""));
                    }
                }
                assertThat(n).isEqualTo(DatabaseGrants.knownFunctions().size());
                assertThat(agentCallable).containsExactlyInAnyOrderElementsOf(
                        DatabaseGrants.AGENT_FUNCTIONS.stream().map(f -> f.replaceAll("\\(.*", "")).toList());
            }
        }
    }

    @Test
    void grantingToARoleThatDoesNotExistSaysSo() {
        assertThatThrownBy(() -> DatabaseGrants.grant(owner, "sh_operator", "no_such_role"))
                .isInstanceOf(StoreException.class).hasMessageContaining("database role no_such_role does not exist");
    }
}
