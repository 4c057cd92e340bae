package io.streamhouse.lease.store;

/**
 * Every statement the store sends, in one place. The compare-and-swap itself lives in the
 * schema (lease_acquire in V1__lease_store.sql) so that it is one round trip and atomic.
 */
final class LeaseSql {

    private LeaseSql() {
    }

    // --- agent_session ---

    static final String REGISTER = """
            INSERT INTO agent_session AS s (agent_id, session_epoch, agent_group, zone, address,
                                            ttl_ms, registered_at, renewed_at, expires_at)
            VALUES (?, 1, ?, ?, ?, ?, now(), now(), now() + ? * interval '1 millisecond')
            ON CONFLICT (agent_id) DO UPDATE
               SET session_epoch = s.session_epoch + 1, agent_group = EXCLUDED.agent_group,
                   zone = EXCLUDED.zone, address = EXCLUDED.address, ttl_ms = EXCLUDED.ttl_ms,
                   registered_at = now(), renewed_at = now(), expires_at = EXCLUDED.expires_at
            RETURNING s.*, s.expires_at > now() AS live, now() AS observed_at
            """;

    // An expired session stays dead: once expiry was observable, its leases may have moved.
    static final String RENEW = """
            UPDATE agent_session
               SET renewed_at = now(), expires_at = now() + ttl_ms * interval '1 millisecond'
             WHERE agent_id = ? AND session_epoch = ? AND expires_at > now()
            """;

    static final String RENEW_ALL = """
            UPDATE agent_session s
               SET renewed_at = now(), expires_at = now() + s.ttl_ms * interval '1 millisecond'
              FROM unnest(?::varchar[], ?::bigint[]) AS k(agent_id, session_epoch)
             WHERE s.agent_id = k.agent_id AND s.session_epoch = k.session_epoch
               AND s.expires_at > now()
            RETURNING s.agent_id
            """;

    static final String UPDATE = """
            UPDATE agent_session SET zone = ?, address = ?, ttl_ms = ?
             WHERE agent_id = ? AND session_epoch = ? AND agent_group = ? AND expires_at > now()
            """;

    static final String EXPIRE = """
            UPDATE agent_session SET expires_at = now()
             WHERE agent_id = ? AND session_epoch = ? AND expires_at > now()
            """;

    private static final String SESSION_COLUMNS =
            "s.*, s.expires_at > now() AS live, now() AS observed_at FROM agent_session s";

    static final String SESSION = "SELECT " + SESSION_COLUMNS + " WHERE s.agent_id = ?";

    static final String SESSIONS = "SELECT " + SESSION_COLUMNS + " ORDER BY s.agent_id";

    // --- partition_lease ---

    static final String ACQUIRE = "SELECT * FROM lease_acquire(?, ?, ?, ?, ?, ?, ?)";

    static final String ACQUIRE_BATCH =
            "SELECT * FROM lease_acquire_batch(?::varchar[], ?::integer[], ?::varchar[],"
            + " ?::bigint[], ?::varchar[], ?::bigint[], ?)";

    static final String RELEASE = """
            WITH released AS (
                UPDATE partition_lease
                   SET holder = NULL, holder_session = NULL, previous_holder = holder,
                       updated_at = now()
                 WHERE topic = ? AND partition = ? AND holder = ? AND epoch = ?
                RETURNING topic, partition, epoch
            ), logged AS (
                INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason)
                SELECT topic, partition, epoch, ?, NULL, ? FROM released
            )
            SELECT count(*) FROM released
            """;

    static final String RELEASE_ALL = """
            WITH released AS (
                UPDATE partition_lease
                   SET holder = NULL, holder_session = NULL, previous_holder = holder,
                       updated_at = now()
                 WHERE holder = ? AND holder_session = ?
                RETURNING topic, partition, epoch
            ), logged AS (
                INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason)
                SELECT topic, partition, epoch, ?, NULL, ? FROM released
            )
            SELECT topic, partition FROM released ORDER BY topic, partition
            """;

    private static final String LEASE_COLUMNS = """
            l.topic, l.partition, l.holder, l.holder_session, l.epoch, l.previous_holder, l.acquired_at,
            l.updated_at, (s.agent_id IS NOT NULL) AS holder_live
              FROM partition_lease l
              LEFT JOIN agent_session s
                ON s.agent_id = l.holder AND s.session_epoch = l.holder_session
               AND s.expires_at > now()
            """;

    static final String LEASE = "SELECT " + LEASE_COLUMNS
            + " WHERE l.topic = ? AND l.partition = ?";

    // FOR SHARE OF l: many writers of one partition share the lock; a takeover needs FOR UPDATE
    // and so waits until every fenced transaction that passed this check has finished.
    static final String LEASE_FOR_SHARE = LEASE + " FOR SHARE OF l";

    static final String LEASES_BY_HOLDER = "SELECT " + LEASE_COLUMNS
            + " WHERE l.holder = ? ORDER BY l.topic, l.partition";

    static final String LEASES = "SELECT " + LEASE_COLUMNS + " ORDER BY l.topic, l.partition";

    // --- lease_history ---

    static final String HISTORY = """
            SELECT id, topic, partition, epoch, from_holder, to_holder, reason, at
              FROM lease_history WHERE topic = ? AND partition = ? ORDER BY id
            """;
}
