-- StreamHouse lease store, version 8: least privilege (issue 18). An agent acts only as itself.
--
-- Until now every client reached the tables directly, so a compromised agent could register any
-- agent id, end or renew another's session, release another's leases, or UPDATE a holder. Now:
--  * Every function runs as the schema owner (SECURITY DEFINER) with a pinned search_path, and
--    nobody may EXECUTE it unless granted (EXECUTE is revoked from PUBLIC). Agents are granted
--    only the agent functions and no table privilege at all; the operator is granted every
--    function, SELECT on the tables and the writes of lease_agent_login (src/main/java/.../
--    store/DatabaseGrants.java grants them to roles named by configuration).
--  * Every agent function first checks, with lease_act_as, that the calling database user (the
--    login, session_user: SET ROLE cannot change it) may act for the agent id it names:
--    lease_agent_login maps that id to that user, or the user may write lease_agent_login itself
--    (the operator, the schema owner: they could map themselves anyway). Refusal: SQLSTATE SH009.
--  * Only the operator writes lease_agent_login, from the StreamAgent it admits for the id.
--
-- Notifications cannot be restricted in PostgreSQL (any user may LISTEN or NOTIFY on any channel):
-- their payloads stay hints, so a forged one costs the listener one query and changes nothing.

CREATE TABLE lease_agent_login (
    agent_id  varchar(63) PRIMARY KEY,
    db_user   name        NOT NULL,
    mapped_at timestamptz NOT NULL DEFAULT now()
);

-- Raises SH009 unless the calling database user may act for p_agent.
CREATE FUNCTION lease_act_as(p_agent varchar) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM 1 FROM lease_agent_login m WHERE m.agent_id = p_agent AND m.db_user = session_user;
    IF FOUND OR has_table_privilege(session_user, 'lease_agent_login', 'INSERT') THEN
        RETURN;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'SH009',
        MESSAGE = format('database user %s may not act for agent %s', session_user, p_agent),
        HINT = 'The operator maps an agent id to a database user when it admits the agent''s StreamAgent'
            || ' (pod annotation streamhouse.io/database-user, or streamhouse.db.agent-user);'
            || ' until then, or for another id, every agent call is refused.';
END;
$$;

-- ---------------------------------------------------------------- the agent functions, checked

CREATE OR REPLACE FUNCTION lease_register(p_agent varchar, p_group varchar, p_zone varchar, p_address varchar,
                                          p_ttl_ms integer)
RETURNS TABLE (agent_id varchar, session_epoch bigint, agent_group varchar, zone varchar,
               address varchar, ttl_ms integer, registered_at timestamptz, renewed_at timestamptz,
               expires_at timestamptz, live boolean, observed_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := clock_timestamp();
BEGIN
    PERFORM lease_act_as(p_agent);
    PERFORM set_config('synchronous_commit', 'on', true);
    RETURN QUERY
    INSERT INTO agent_session AS s (agent_id, session_epoch, agent_group, zone, address, ttl_ms,
                                    registered_at, renewed_at, expires_at, ended_at)
    VALUES (p_agent, 1, p_group, coalesce(p_zone, ''), coalesce(p_address, ''), p_ttl_ms,
            t, t, t + p_ttl_ms * interval '1 millisecond', NULL)
    ON CONFLICT ON CONSTRAINT agent_session_pkey DO UPDATE
       SET session_epoch = s.session_epoch + 1, agent_group = EXCLUDED.agent_group,
           zone = EXCLUDED.zone, address = EXCLUDED.address, ttl_ms = EXCLUDED.ttl_ms,
           registered_at = EXCLUDED.registered_at, renewed_at = EXCLUDED.renewed_at,
           expires_at = EXCLUDED.expires_at, ended_at = NULL
    RETURNING s.agent_id, s.session_epoch, s.agent_group, s.zone, s.address, s.ttl_ms,
              s.registered_at, s.renewed_at, s.expires_at, true, t;
END;
$$;

CREATE OR REPLACE FUNCTION lease_renew(p_agent varchar, p_session bigint) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    s agent_session%ROWTYPE;
    refusal text;
    t timestamptz;
BEGIN
    PERFORM lease_act_as(p_agent);
    PERFORM set_config('synchronous_commit', 'on', true);
    SELECT * INTO s FROM agent_session a WHERE a.agent_id = p_agent FOR UPDATE;
    refusal := lease_session_refusal(s, p_agent, p_session);
    IF refusal IS NOT NULL THEN
        PERFORM lease_raise(refusal, format('session %s of agent %s cannot be renewed (%s)', p_session, p_agent,
            CASE refusal WHEN 'SH003' THEN 'superseded by session ' || s.session_epoch
                         WHEN 'SH004' THEN 'expired or ended' ELSE 'unknown' END));
    END IF;
    t := clock_timestamp();
    UPDATE agent_session a SET renewed_at = t, expires_at = t + a.ttl_ms * interval '1 millisecond'
     WHERE a.agent_id = p_agent;
    RETURN t + s.ttl_ms * interval '1 millisecond';
END;
$$;

CREATE OR REPLACE FUNCTION lease_update_session(p_agent varchar, p_session bigint, p_group varchar, p_zone varchar,
                                                p_address varchar, p_ttl_ms integer) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lease_act_as(p_agent);
    PERFORM set_config('synchronous_commit', 'on', true);
    UPDATE agent_session s SET zone = coalesce(p_zone, ''), address = coalesce(p_address, ''), ttl_ms = p_ttl_ms
     WHERE s.agent_id = p_agent AND s.session_epoch = p_session AND s.agent_group = p_group
       AND s.ended_at IS NULL AND s.expires_at > clock_timestamp();
    RETURN FOUND;
END;
$$;

CREATE OR REPLACE FUNCTION lease_end_session(p_agent varchar, p_session bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lease_act_as(p_agent);
    PERFORM set_config('synchronous_commit', 'on', true);
    UPDATE agent_session s SET ended_at = clock_timestamp(), expires_at = least(s.expires_at, clock_timestamp())
     WHERE s.agent_id = p_agent AND s.session_epoch = p_session AND s.ended_at IS NULL
       AND s.expires_at > clock_timestamp();
    RETURN FOUND;
END;
$$;

-- The agent's own session row, as the operator reads it (LeaseSql.SESSION): an agent asks whether
-- its session is still live without any privilege on agent_session.
CREATE FUNCTION lease_session(p_agent varchar)
RETURNS TABLE (agent_id varchar, session_epoch bigint, agent_group varchar, zone varchar,
               address varchar, ttl_ms integer, registered_at timestamptz, renewed_at timestamptz,
               expires_at timestamptz, ended_at timestamptz, live boolean, observed_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM lease_act_as(p_agent);
    RETURN QUERY
    SELECT s.agent_id, s.session_epoch, s.agent_group, s.zone, s.address, s.ttl_ms, s.registered_at,
           s.renewed_at, s.expires_at, s.ended_at, s.ended_at IS NULL AND s.expires_at > now(), now()
      FROM agent_session s WHERE s.agent_id = p_agent;
END;
$$;

CREATE OR REPLACE FUNCTION lease_held(p_agent varchar, p_session bigint)
RETURNS TABLE (topic varchar, partition integer, epoch bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM lease_act_as(p_agent);
    RETURN QUERY
    SELECT l.topic, l.partition, l.epoch FROM partition_lease l
     WHERE l.holder = p_agent AND l.holder_session = p_session AND session_live(p_agent, p_session)
     ORDER BY l.topic, l.partition;
END;
$$;

CREATE OR REPLACE FUNCTION lease_assignments(p_agent varchar, p_session bigint)
RETURNS TABLE (topic varchar, partition integer, epoch bigint, handoff_to varchar)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM lease_act_as(p_agent);
    RETURN QUERY
    SELECT l.topic, l.partition, l.epoch, h.target
      FROM partition_lease l
      LEFT JOIN lease_handoff h
        ON h.topic = l.topic AND h.partition = l.partition AND h.holder = l.holder
       AND h.holder_session = l.holder_session AND h.epoch = l.epoch
     WHERE l.holder = p_agent AND l.holder_session = p_session AND session_live(p_agent, p_session)
     ORDER BY l.topic, l.partition;
END;
$$;

CREATE OR REPLACE FUNCTION lease_validate(p_topic varchar, p_partition integer, p_agent varchar, p_session bigint,
                                          p_epoch bigint)
RETURNS TABLE (status text, holder varchar, epoch bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    l partition_lease%ROWTYPE;
    s agent_session%ROWTYPE;
    refusal text;
BEGIN
    PERFORM lease_act_as(p_agent);
    SELECT * INTO l FROM partition_lease x WHERE x.topic = p_topic AND x.partition = p_partition;
    SELECT * INTO s FROM agent_session a WHERE a.agent_id = p_agent;
    refusal := lease_session_refusal(s, p_agent, p_session);
    RETURN QUERY SELECT
        CASE
            WHEN refusal = 'SH003' THEN 'SUPERSEDED'
            WHEN l.topic IS NULL OR p_epoch > l.epoch THEN 'NOT_HOLDER'
            WHEN p_epoch < l.epoch THEN 'STALE_EPOCH'
            WHEN l.holder IS DISTINCT FROM p_agent OR l.holder_session IS DISTINCT FROM p_session THEN 'NOT_HOLDER'
            WHEN refusal IS NOT NULL THEN 'EXPIRED'
            ELSE 'VALID'
        END,
        l.holder, coalesce(l.epoch, 0);
END;
$$;

CREATE OR REPLACE FUNCTION lease_fence(p_topic varchar, p_partition integer, p_agent varchar, p_session bigint,
                                       p_epoch bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s agent_session%ROWTYPE;
    l partition_lease%ROWTYPE;
    refusal text;
    left_ms bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION USING ERRCODE = 'SH008', MESSAGE = format('fenced transactions must run at READ COMMITTED,'
            || ' not %s: the commit-time check must see the session as it is at commit',
            current_setting('transaction_isolation'));
    END IF;
    PERFORM lease_act_as(p_agent);
    SELECT * INTO s FROM agent_session a WHERE a.agent_id = p_agent;
    left_ms := floor(extract(epoch FROM s.expires_at - clock_timestamp()) * 1000);
    IF s.session_epoch IS DISTINCT FROM p_session OR s.ended_at IS NOT NULL OR left_ms < 1 THEN
        refusal := coalesce(lease_session_refusal(s, p_agent, p_session), 'SH004');
        PERFORM lease_raise(refusal, format('%s/%s: session %s of %s %s', p_topic, p_partition, p_session, p_agent,
            CASE refusal WHEN 'SH003' THEN 'was superseded by session ' || s.session_epoch
                         WHEN 'SH004' THEN 'expired or ended'
                         ELSE 'is unknown' END));
    END IF;
    -- Local to the caller's transaction: a function's own SET clause (search_path, below) restores
    -- only the settings it names, so these outlive the call, as the fence needs.
    PERFORM set_config('lock_timeout', left_ms || 'ms', true), set_config('statement_timeout', left_ms || 'ms', true),
            set_config('idle_in_transaction_session_timeout', left_ms || 'ms', true),
            set_config('synchronous_commit', 'on', true);

    SELECT * INTO l FROM partition_lease x WHERE x.topic = p_topic AND x.partition = p_partition FOR SHARE;
    IF NOT FOUND THEN
        PERFORM lease_raise('SH006', format('%s/%s has never been held', p_topic, p_partition));
    ELSIF p_epoch < l.epoch THEN
        PERFORM lease_raise('SH002', format('%s/%s: stale epoch %s for %s (%s at epoch %s)', p_topic, p_partition,
            p_epoch, p_agent, coalesce('held by ' || l.holder, 'no holder'), l.epoch));
    ELSIF p_epoch > l.epoch OR l.holder IS DISTINCT FROM p_agent OR l.holder_session IS DISTINCT FROM p_session THEN
        PERFORM lease_raise('SH001', format('%s/%s: session %s of %s does not hold epoch %s (%s at epoch %s)',
            p_topic, p_partition, p_session, p_agent, p_epoch, coalesce('held by ' || l.holder, 'no holder'), l.epoch));
    END IF;
    INSERT INTO lease_fence_pending VALUES (p_agent, p_session, p_topic, p_partition, p_epoch);
    RETURN left_ms;
END;
$$;

CREATE OR REPLACE FUNCTION lease_release(p_topic varchar, p_partition integer, p_agent varchar, p_session bigint,
                                         p_epoch bigint, p_reason varchar) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    released bigint;
BEGIN
    PERFORM lease_act_as(p_agent);
    PERFORM set_config('synchronous_commit', 'on', true);
    UPDATE partition_lease l
       SET holder = NULL, holder_session = NULL, previous_holder = l.holder, updated_at = now()
     WHERE l.topic = p_topic AND l.partition = p_partition AND l.holder = p_agent
       AND l.holder_session = p_session AND l.epoch = p_epoch
    RETURNING l.epoch INTO released;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason)
         VALUES (p_topic, p_partition, released, p_agent, NULL, p_reason);
    RETURN true;
END;
$$;

CREATE OR REPLACE FUNCTION lease_release_all(p_agent varchar, p_session bigint, p_reason varchar)
RETURNS TABLE (topic varchar, partition integer)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lease_act_as(p_agent);
    PERFORM set_config('synchronous_commit', 'on', true);
    RETURN QUERY
    WITH released AS (
        UPDATE partition_lease l
           SET holder = NULL, holder_session = NULL, previous_holder = l.holder, updated_at = now()
         WHERE l.holder = p_agent AND l.holder_session = p_session
        RETURNING l.topic, l.partition, l.epoch
    ), logged AS (
        INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason)
        SELECT r.topic, r.partition, r.epoch, p_agent, NULL, p_reason FROM released r
    )
    SELECT r.topic, r.partition FROM released r ORDER BY r.topic, r.partition;
END;
$$;

CREATE OR REPLACE FUNCTION lease_shutdown(p_agent varchar, p_session bigint, p_reason varchar)
RETURNS TABLE (topic varchar, partition integer)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lease_act_as(p_agent);
    PERFORM set_config('synchronous_commit', 'on', true);
    PERFORM lease_end_session(p_agent, p_session);
    RETURN QUERY SELECT * FROM lease_release_all(p_agent, p_session, p_reason);
END;
$$;

-- ---------------------------------------------------------------- who may run what

-- Every function of the lease store runs as its owner with the search path pinned to this schema
-- (then pg_temp, last, so that a caller's temporary objects never stand in for ours), and only
-- roles granted EXECUTE may call it. Trigger functions included: the fence's commit-time check
-- then runs as the owner whichever role commits (which role runs a deferred trigger changed
-- between PostgreSQL versions).
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace = current_schema()::regnamespace
           AND (p.proname LIKE 'lease\_%' OR p.proname IN ('session_live', 'agent_session_notify'))
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END;
$$;

REVOKE ALL ON agent_session, partition_lease, lease_history, lease_handoff, lease_fence_pending, lease_agent_login
    FROM PUBLIC;
