package io.streamhouse.lease.store;

/**
 * Every statement the store sends, in one place. What changes lease state lives in the schema
 * as functions (the compare-and-swap in V1, the agent protocol and the fence in V3), so that each
 * is one round trip, atomic, and the same for an agent in any language.
 */
final class LeaseSql {

    private LeaseSql() {
    }

    // --- agent_session: the agent protocol's functions (V3__agent_protocol.sql) ---

    static final String REGISTER = "SELECT * FROM lease_register(?, ?, ?, ?, ?)";

    // Raises SH003 (superseded), SH004 (expired or ended) or SH007 (unknown) instead of renewing.
    static final String RENEW = "SELECT lease_renew(?, ?)";

    static final String RENEW_ALL = "SELECT * FROM lease_renew_all(?::varchar[], ?::bigint[])";

    static final String UPDATE = "SELECT lease_update_session(?, ?, ?, ?, ?, ?)";

    static final String END_SESSION = "SELECT lease_end_session(?, ?)";

    private static final String SESSION_COLUMNS =
            "s.*, s.ended_at IS NULL AND s.expires_at > now() AS live, now() AS observed_at FROM agent_session s";

    // An agent function (V8): an agent reads its own session, never the table.
    static final String SESSION = "SELECT * FROM lease_session(?)";

    /** The agent's session epoch when that session is over (ended or expired); no row when live or none. */
    static final String ENDED_SESSION = "SELECT session_epoch FROM agent_session"
            + " WHERE agent_id = ? AND (ended_at IS NOT NULL OR expires_at <= now())";

    static final String SESSIONS = "SELECT " + SESSION_COLUMNS + " ORDER BY s.agent_id";

    // --- partition_lease ---

    static final String ACQUIRE = "SELECT * FROM lease_acquire(?, ?, ?, ?, ?, ?, ?)";

    static final String ACQUIRE_BATCH =
            "SELECT * FROM lease_acquire_batch(?::varchar[], ?::integer[], ?::varchar[],"
            + " ?::bigint[], ?::varchar[], ?::bigint[], ?)";

    static final String RELEASE = "SELECT lease_release(?, ?, ?, ?, ?, ?)";

    static final String RELEASE_ALL = "SELECT * FROM lease_release_all(?, ?, ?)";
    static final String SHUTDOWN = "SELECT * FROM lease_shutdown(?, ?, ?)";

    // The fence: the first statement of a fenced transaction (see lease_fence for what it does).
    static final String FENCE = "SELECT lease_fence(?, ?, ?, ?, ?)";

    static final String VALIDATE = "SELECT * FROM lease_validate(?, ?, ?, ?, ?)";

    // --- what an agent learns from the database (V5__agent_channel.sql) ---

    static final String ASSIGNMENTS = "SELECT * FROM lease_assignments(?, ?)";

    static final String ASSIGNMENTS_VERSION = "SELECT lease_assignments_version(?)";

    // (V11__assignment_changes.sql)
    static final String ASSIGNMENT_CHANGES = "SELECT * FROM lease_assignment_changes(?, ?, ?)";

    static final String FORGET_AGENT_CHANGES = "SELECT lease_forget_agent_changes(?)";

    static final String REQUEST_HANDOFF = "SELECT lease_request_handoff(?, ?, ?, ?, ?, ?)";

    static final String CANCEL_HANDOFF = "SELECT lease_cancel_handoff(?, ?)";

    static final String AGENT_CHANNEL = "SELECT lease_agent_channel(?)";

    private static final String LEASE_COLUMNS = """
            l.topic, l.partition, l.holder, l.holder_session, l.epoch, l.previous_holder, l.acquired_at,
            l.updated_at, (s.agent_id IS NOT NULL) AS holder_live
              FROM partition_lease l
              LEFT JOIN agent_session s
                ON s.agent_id = l.holder AND s.session_epoch = l.holder_session
               AND s.ended_at IS NULL AND s.expires_at > now()
            """;

    static final String LEASE = "SELECT " + LEASE_COLUMNS
            + " WHERE l.topic = ? AND l.partition = ?";

    static final String LEASES_BY_HOLDER = "SELECT " + LEASE_COLUMNS
            + " WHERE l.holder = ? ORDER BY l.topic, l.partition";

    static final String LEASES = "SELECT " + LEASE_COLUMNS + " ORDER BY l.topic, l.partition";

    static final String LEASES_OF_TOPIC = "SELECT " + LEASE_COLUMNS + " WHERE l.topic = ? ORDER BY l.partition";

    /** Partitions 0..n-1 of each (topic, n) that nobody holds: rows released, and rows not made yet. */
    static final String UNHELD_PARTITIONS = """
            SELECT t.topic, p.partition
              FROM unnest(?::text[], ?::integer[]) AS t(topic, partitions)
              CROSS JOIN LATERAL generate_series(0, t.partitions - 1) AS p(partition)
              LEFT JOIN partition_lease l ON l.topic = t.topic AND l.partition = p.partition
             WHERE l.holder IS NULL
             ORDER BY t.topic, p.partition
            """;

    static final String RELEASE_PARTITIONS = "SELECT * FROM lease_release_partitions(?, ?::integer[], ?)";

    // --- who may act for an agent (V8__least_privilege.sql); the operator writes it ---

    static final String MAP_AGENT = """
            INSERT INTO lease_agent_login AS m (agent_id, db_user) VALUES (?, ?)
            ON CONFLICT (agent_id) DO UPDATE SET db_user = EXCLUDED.db_user, mapped_at = now()
             WHERE m.db_user IS DISTINCT FROM EXCLUDED.db_user
            """;

    static final String UNMAP_AGENT = "DELETE FROM lease_agent_login WHERE agent_id = ?";

    static final String AGENT_LOGIN = "SELECT db_user FROM lease_agent_login WHERE agent_id = ?";

    // --- the server's promise about acknowledged commits (Durability) ---

    static final String DURABILITY = """
            SELECT current_setting('fsync') = 'on', current_setting('full_page_writes') = 'on',
                   current_setting('synchronous_commit'), current_setting('synchronous_standby_names'),
                   (SELECT count(*) FROM pg_stat_replication)::int
            """;

    // --- lease_history ---

    static final String HISTORY = """
            SELECT id, topic, partition, epoch, from_holder, to_holder, reason, at
              FROM lease_history WHERE topic = ? AND partition = ? ORDER BY id
            """;
}
