-- StreamHouse lease store, version 11: what changed for an agent since a version, so that a look
-- reads the leases that changed instead of every lease the agent holds.
--
-- Version 10 counts, per agent, every change to what lease_assignments answers it; an agent whose
-- number moved read all its leases again. At 100,000 partitions on 100 agents a crash gives each
-- survivor about ten leases, and each survivor read its thousand rows to learn of them: the
-- largest database cost of a failover (98 looks of ~1,020 rows, 26 ms each beside the failover
-- itself). Here the same triggers also write which (topic, partition) each version changed for
-- the agent, and lease_assignment_changes answers the current state of just those.
--
-- Versions of one agent are numbered under the lock of its lease_agent_change row, so they are
-- in commit order: a look that reads, in one snapshot, every entry above the version its last look
-- was made at sees every change since, and reads each changed lease as it stands now (reading it
-- again at the next look is harmless: the answer is the state, not the change).
--
-- The log keeps the last 1,024 versions of each agent (pruned by the writer that adds a version);
-- lease_agent_change.pruned_through says up to which version entries may be gone, and a look from
-- further back is refused (SQLSTATE SH010) so that the agent reads everything instead.

ALTER TABLE lease_agent_change ADD COLUMN pruned_through bigint NOT NULL DEFAULT 0;
-- Changes made before this version were not logged: every agent reads everything once more.
UPDATE lease_agent_change SET pruned_through = version;

CREATE TABLE lease_agent_change_log (
    agent_id  varchar(63)  NOT NULL,
    version   bigint       NOT NULL,
    topic     varchar(249) NOT NULL,
    partition integer      NOT NULL,
    PRIMARY KEY (agent_id, version, topic, partition)
);
REVOKE ALL ON lease_agent_change_log FROM PUBLIC;

-- One new version for each agent named, logging the (topic, partition) it changed for that agent.
-- Agents in id order: two transactions that count the same agents lock their rows in one order.
CREATE FUNCTION lease_agent_rows_changed(p_agents varchar[], p_topics varchar[], p_partitions integer[])
RETURNS void LANGUAGE sql AS $$
    WITH touched AS (
        SELECT DISTINCT t.agent, t.topic, t.partition
          FROM unnest(p_agents, p_topics, p_partitions) AS t(agent, topic, partition)
         WHERE t.agent IS NOT NULL
    ), counted AS (
        INSERT INTO lease_agent_change AS c (agent_id, version)
        SELECT DISTINCT t.agent, 1 FROM touched t ORDER BY 1
        ON CONFLICT (agent_id) DO UPDATE
           SET version = c.version + 1, pruned_through = greatest(c.pruned_through, c.version + 1 - 1024)
        RETURNING c.agent_id, c.version
    ), pruned AS (
        DELETE FROM lease_agent_change_log l USING counted c
         WHERE l.agent_id = c.agent_id AND l.version <= c.version - 1024
    )
    INSERT INTO lease_agent_change_log (agent_id, version, topic, partition)
    SELECT t.agent, c.version, t.topic, t.partition FROM touched t JOIN counted c ON c.agent_id = t.agent;
$$;

CREATE OR REPLACE FUNCTION lease_history_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lease_agent_rows_changed(array_agg(t.agent), array_agg(t.topic), array_agg(t.partition))
       FROM (SELECT n.to_holder, n.topic, n.partition FROM counted_rows n
             UNION ALL
             SELECT n.from_holder, n.topic, n.partition FROM counted_rows n) AS t(agent, topic, partition);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION lease_handoff_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM lease_agent_rows_changed(ARRAY[OLD.holder], ARRAY[OLD.topic], ARRAY[OLD.partition]);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM lease_agent_rows_changed(ARRAY[NEW.holder], ARRAY[NEW.topic], ARRAY[NEW.partition]);
    END IF;
    RETURN NULL;
END;
$$;

DROP FUNCTION lease_agents_changed(varchar[]);

-- What changed for this incarnation since p_since (a version lease_assignments_version gave before
-- an earlier look): each lease changed since, as lease_assignments would show it now, and those no
-- longer this incarnation's with a null epoch. Refused with SH010 when the session is not live or
-- the entries since p_since are no longer kept: read lease_assignments then.
CREATE FUNCTION lease_assignment_changes(p_agent varchar, p_session bigint, p_since bigint)
RETURNS TABLE (topic varchar, partition integer, epoch bigint, handoff_to varchar)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    kept_from bigint;
BEGIN
    PERFORM lease_act_as(p_agent);
    IF NOT session_live(p_agent, p_session) THEN
        PERFORM lease_raise('SH010', format('session %s of agent %s is not live: read all its assignments',
                                            p_session, p_agent));
    END IF;
    kept_from := coalesce((SELECT c.pruned_through FROM lease_agent_change c WHERE c.agent_id = p_agent), 0);
    IF p_since < kept_from THEN
        PERFORM lease_raise('SH010', format('changes of agent %s since version %s are no longer kept (from %s):'
                                            || ' read all its assignments', p_agent, p_since, kept_from));
    END IF;
    RETURN QUERY
    SELECT k.topic, k.partition, l.epoch, h.target
      FROM (SELECT DISTINCT g.topic, g.partition FROM lease_agent_change_log g
             WHERE g.agent_id = p_agent AND g.version > p_since) AS k
      LEFT JOIN partition_lease l
        ON l.topic = k.topic AND l.partition = k.partition AND l.holder = p_agent AND l.holder_session = p_session
      LEFT JOIN lease_handoff h
        ON h.topic = l.topic AND h.partition = l.partition AND h.holder = l.holder
       AND h.holder_session = l.holder_session AND h.epoch = l.epoch
     ORDER BY k.topic, k.partition;
END;
$$;

-- The operator, when an agent's StreamAgent is gone: its log entries go (a process with that id
-- registers a new session, which reads everything first). Safe at any time: entries may be gone
-- up to the version it stood at.
CREATE FUNCTION lease_forget_agent_changes(p_agent varchar) RETURNS void LANGUAGE sql AS $$
    UPDATE lease_agent_change c SET pruned_through = c.version WHERE c.agent_id = p_agent;
    DELETE FROM lease_agent_change_log l WHERE l.agent_id = p_agent;
$$;

-- As V8: run as the owner, search path pinned, callable only by roles granted EXECUTE.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace = current_schema()::regnamespace
           AND p.proname IN ('lease_agent_rows_changed', 'lease_history_count_changes', 'lease_handoff_count_changes',
                             'lease_assignment_changes', 'lease_forget_agent_changes')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END;
$$;
