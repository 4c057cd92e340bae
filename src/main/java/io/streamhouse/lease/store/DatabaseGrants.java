package io.streamhouse.lease.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;
import javax.sql.DataSource;

/**
 * What each kind of database user may do (V8__least_privilege.sql), granted by the schema owner
 * to roles that already exist: the operator's role and the role every agent's login is a member
 * of. Their names are configuration, since roles are global to a PostgreSQL cluster and managed
 * services rarely let an application create them (deploy/postgres/roles.sql creates them on a
 * self-managed server).
 *
 * <p>Granting is idempotent and runs after every migration, so a function a later migration adds
 * is granted at the next start. Every function of the schema is in exactly one of the lists
 * below (a test holds this): a new one must be placed on purpose.
 */
public final class DatabaseGrants {

    /** The agent protocol: each checks that the caller may act for the agent id it names. */
    public static final List<String> AGENT_FUNCTIONS = List.of(
            "lease_register(varchar, varchar, varchar, varchar, integer)",
            "lease_renew(varchar, bigint)",
            "lease_update_session(varchar, bigint, varchar, varchar, varchar, integer)",
            "lease_end_session(varchar, bigint)",
            "lease_session(varchar)",
            "lease_held(varchar, bigint)",
            "lease_assignments(varchar, bigint)",
            "lease_assignments_version(varchar)",
            "lease_assignment_changes(varchar, bigint, bigint)",
            "lease_validate(varchar, integer, varchar, bigint, bigint)",
            "lease_fence(varchar, integer, varchar, bigint, bigint)",
            "lease_release(varchar, integer, varchar, bigint, bigint, varchar)",
            "lease_release_all(varchar, bigint, varchar)",
            "lease_shutdown(varchar, bigint, varchar)",
            "lease_agent_channel(varchar)");

    /** The operator's: the compare-and-swap, batch renewals, handoff requests, a topic's release. */
    public static final List<String> OPERATOR_FUNCTIONS = List.of(
            "lease_acquire(varchar, integer, varchar, bigint, varchar, bigint, varchar)",
            "lease_acquire_batch(varchar[], integer[], varchar[], bigint[], varchar[], bigint[], varchar)",
            "lease_renew_all(varchar[], bigint[])",
            "lease_request_handoff(varchar, integer, varchar, bigint, bigint, varchar)",
            "lease_cancel_handoff(varchar, integer)",
            "lease_release_partitions(varchar, integer[], varchar)",
            "lease_forget_agent_changes(varchar)");

    /** Called only by the functions above and by triggers: granted to nobody. */
    public static final List<String> INTERNAL_FUNCTIONS = List.of(
            "lease_act_as(varchar)",
            "lease_acquire_row(varchar, integer, varchar, bigint, varchar, bigint, varchar, boolean)",
            "lease_unheld_since(varchar, bigint, bigint, timestamp with time zone, boolean)",
            "lease_session_refusal(agent_session, varchar, bigint)",
            "lease_raise(text, text)",
            "session_live(varchar, bigint)",
            "lease_fence_at_commit()",
            "lease_history_notify_rows()",
            "lease_history_append_only()",
            "lease_agent_rows_changed(varchar[], varchar[], integer[])",
            "lease_history_count_changes()",
            "lease_handoff_count_changes()",
            "agent_session_notify()");

    /** The operator reads every table; it writes none but the agent mapping (only through functions otherwise). */
    public static final List<String> TABLES = List.of(
            "agent_session", "partition_lease", "lease_history", "lease_handoff", "lease_agent_login",
            "lease_agent_change", "lease_agent_change_log");

    private DatabaseGrants() {
    }

    /**
     * Grants the operator's and the agents' privileges; run by the schema owner (a connection of
     * {@code owner}). Fails with a message naming the role when one does not exist.
     */
    public static void grant(DataSource owner, String operatorRole, String agentRole) {
        Objects.requireNonNull(operatorRole, "operatorRole");
        Objects.requireNonNull(agentRole, "agentRole");
        try (Connection c = owner.getConnection()) {
            for (String role : List.of(operatorRole, agentRole)) {
                if (!roleExists(c, role)) {
                    throw new StoreException("database role " + role + " does not exist: create it first"
                            + " (deploy/postgres/roles.sql) or name an existing one", null);
                }
            }
            String operator = quote(operatorRole);
            String agents = quote(agentRole);
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                for (String sql : statements(currentSchema(c), operator, agents)) {
                    s.execute(sql);
                }
                c.commit();
            } catch (SQLException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(autoCommit);
            }
        } catch (SQLException e) {
            throw PostgresLeaseStore.failure("grant the operator's and the agents' privileges", e);
        }
    }

    static List<String> statements(String schema, String operator, String agents) {
        List<String> sql = new ArrayList<>();
        sql.add("GRANT USAGE ON SCHEMA " + quote(schema) + " TO " + operator + ", " + agents);
        sql.add("GRANT SELECT ON " + String.join(", ", TABLES) + " TO " + operator);
        sql.add("GRANT INSERT, UPDATE, DELETE ON lease_agent_login TO " + operator);
        sql.add("GRANT EXECUTE ON FUNCTION " + String.join(", ", AGENT_FUNCTIONS) + " TO " + operator + ", " + agents);
        sql.add("GRANT EXECUTE ON FUNCTION " + String.join(", ", OPERATOR_FUNCTIONS) + " TO " + operator);
        return sql;
    }

    /** Every function the schema holds, for the check that each is in one list. */
    public static List<String> allFunctions(Connection c) throws SQLException {
        List<String> all = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT p.proname || '(' || coalesce((SELECT string_agg(format_type(t, NULL), ', ' ORDER BY i)
                                                       FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)), '') || ')'
                  FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace ORDER BY 1
                """);
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                all.add(rs.getString(1).replace("character varying", "varchar"));
            }
        }
        return all;
    }

    /** Every function of the three lists. */
    public static List<String> knownFunctions() {
        return Stream.of(AGENT_FUNCTIONS, OPERATOR_FUNCTIONS, INTERNAL_FUNCTIONS).flatMap(List::stream).toList();
    }

    private static boolean roleExists(Connection c, String role) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM pg_roles WHERE rolname = ?")) {
            ps.setString(1, role);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    private static String currentSchema(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT current_schema()")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** A role or schema name as an SQL identifier, whatever it holds. */
    static String quote(String identifier) {
        return "\"" + identifier.replace("\"", "\"\"") + "\"";
    }
}
