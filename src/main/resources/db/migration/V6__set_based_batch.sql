-- StreamHouse lease store, version 6: a failover's batch is one statement, not one per lease.
--
-- Same contract as lease_acquire_batch in V3 (each row decided as lease_acquire_row decides it,
-- with p_wait false), done as set operations: one lock pass, one UPDATE, one history INSERT, and
-- the history's notifications sent once per statement. A crash's 1,000 leases took a plpgsql
-- loop of 1,000 function calls, each with two liveness lookups and a trigger firing three
-- notifications and a DELETE per row; on a loaded machine that was 300-440 ms of the failover.

-- Many partitions in one transaction, rows in (topic, partition) order; a row that cannot be
-- locked at once is LOCKED, never waited for, so one stuck writer never holds up the others.
-- Every holder is judged live or not at one instant (the transaction's now()). A partition named
-- twice, or arrays of different lengths, are refused (SQLSTATE 22023): each row must be decided
-- once, or two history rows would claim one epoch.
CREATE OR REPLACE FUNCTION lease_acquire_batch(p_topics varchar[], p_partitions integer[],
                                               p_agents varchar[], p_sessions bigint[],
                                               p_expected_holders varchar[], p_expected_epochs bigint[],
                                               p_reason varchar)
RETURNS TABLE (topic varchar, partition integer, outcome text, holder varchar,
               holder_session bigint, epoch bigint, previous_holder varchar,
               acquired_at timestamptz, updated_at timestamptz, holder_live boolean)
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(cardinality(p_topics), 0);
BEGIN
    IF coalesce(cardinality(p_partitions), 0) <> n OR coalesce(cardinality(p_agents), 0) <> n
       OR coalesce(cardinality(p_sessions), 0) <> n OR coalesce(cardinality(p_expected_holders), 0) <> n
       OR coalesce(cardinality(p_expected_epochs), 0) <> n THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'lease_acquire_batch: the arrays differ in length';
    END IF;
    IF (SELECT count(*) FROM (SELECT DISTINCT t.topic, t.partition
                                FROM unnest(p_topics, p_partitions) AS t(topic, partition)) d) <> n THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'lease_acquire_batch: a partition is named twice';
    END IF;
    PERFORM set_config('synchronous_commit', 'on', true);

    -- Rows never written before. One that another transaction is inserting is waited for (as a
    -- single acquire's insert always was); it is then there, locked or not.
    INSERT INTO partition_lease AS l (topic, partition)
    SELECT t.topic, t.partition FROM unnest(p_topics, p_partitions) AS t(topic, partition)
     WHERE NOT EXISTS (SELECT 1 FROM partition_lease x WHERE x.topic = t.topic AND x.partition = t.partition)
     ORDER BY 1, 2
    ON CONFLICT DO NOTHING;

    RETURN QUERY
    WITH req AS (
        SELECT * FROM unnest(p_topics, p_partitions, p_agents, p_sessions, p_expected_holders, p_expected_epochs)
            AS t(topic, partition, agent, session, expected_holder, expected_epoch)
    ), locked AS MATERIALIZED (
        SELECT l.* FROM partition_lease l
         WHERE (l.topic, l.partition) IN (SELECT r.topic, r.partition FROM req r)
         ORDER BY l.topic, l.partition
           FOR UPDATE SKIP LOCKED
    ), live AS MATERIALIZED (
        SELECT s.agent_id, s.session_epoch FROM agent_session s
         WHERE s.ended_at IS NULL AND s.expires_at > now()
    ), judged AS MATERIALIZED (
        -- A row someone else holds locked is reported as it stands (last committed), LOCKED.
        SELECT r.topic, r.partition, r.agent, r.session, r.expected_holder, r.expected_epoch,
               k.topic IS NOT NULL AS got,
               c.holder AS cur_holder, c.holder_session AS cur_session, coalesce(c.epoch, 0) AS cur_epoch,
               c.previous_holder AS cur_previous, c.acquired_at AS cur_acquired, c.updated_at AS cur_updated,
               hv.agent_id IS NOT NULL AS cur_live,
               av.agent_id IS NOT NULL AS agent_live
          FROM req r
          LEFT JOIN locked k ON k.topic = r.topic AND k.partition = r.partition
          LEFT JOIN LATERAL (SELECT u.holder, u.holder_session, u.epoch, u.previous_holder, u.acquired_at, u.updated_at
                               FROM partition_lease u
                              WHERE k.topic IS NULL AND u.topic = r.topic AND u.partition = r.partition) AS unlocked ON true
          CROSS JOIN LATERAL (SELECT coalesce(k.holder, unlocked.holder) AS holder,
                                     coalesce(k.holder_session, unlocked.holder_session) AS holder_session,
                                     coalesce(k.epoch, unlocked.epoch) AS epoch,
                                     coalesce(k.previous_holder, unlocked.previous_holder) AS previous_holder,
                                     coalesce(k.acquired_at, unlocked.acquired_at) AS acquired_at,
                                     coalesce(k.updated_at, unlocked.updated_at) AS updated_at) AS c
          LEFT JOIN live hv ON hv.agent_id = c.holder AND hv.session_epoch = c.holder_session
          LEFT JOIN live av ON av.agent_id = r.agent AND av.session_epoch = r.session
    ), decided AS MATERIALIZED (
        SELECT j.*,
               CASE
                   WHEN NOT j.got THEN 'LOCKED'
                   WHEN j.cur_holder = j.agent AND j.cur_session = j.session THEN
                       CASE WHEN j.cur_live THEN 'ALREADY_HELD' ELSE 'AGENT_NOT_LIVE' END
                   WHEN NOT j.agent_live THEN 'AGENT_NOT_LIVE'
                   WHEN j.cur_holder IS NULL OR NOT j.cur_live
                        OR (j.cur_holder = j.expected_holder AND j.cur_epoch = j.expected_epoch) THEN 'ACQUIRED'
                   ELSE 'HELD_BY_OTHER'
               END AS outcome
          FROM judged j
    ), moved AS (
        UPDATE partition_lease l
           SET holder = d.agent, holder_session = d.session, epoch = d.cur_epoch + 1,
               previous_holder = coalesce(d.cur_holder, d.cur_previous), acquired_at = now(), updated_at = now()
          FROM decided d
         WHERE d.outcome = 'ACQUIRED' AND l.topic = d.topic AND l.partition = d.partition
    ), recorded AS (
        INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason)
        SELECT d.topic, d.partition, d.cur_epoch + 1, d.cur_holder, d.agent, p_reason
          FROM decided d WHERE d.outcome = 'ACQUIRED' ORDER BY d.topic, d.partition
    )
    SELECT d.topic, d.partition, d.outcome,
           CASE WHEN d.outcome = 'ACQUIRED' THEN d.agent ELSE d.cur_holder END,
           CASE WHEN d.outcome = 'ACQUIRED' THEN d.session ELSE d.cur_session END,
           CASE WHEN d.outcome = 'ACQUIRED' THEN d.cur_epoch + 1 ELSE d.cur_epoch END,
           CASE WHEN d.outcome = 'ACQUIRED' THEN coalesce(d.cur_holder, d.cur_previous) ELSE d.cur_previous END,
           CASE WHEN d.outcome = 'ACQUIRED' THEN now() ELSE d.cur_acquired END,
           CASE WHEN d.outcome = 'ACQUIRED' THEN now() ELSE d.cur_updated END,
           CASE WHEN d.outcome = 'ACQUIRED' THEN true ELSE d.cur_holder IS NOT NULL AND d.cur_live END
      FROM decided d
     ORDER BY d.topic, d.partition;
END;
$$;

-- The notifications of V5, sent once per statement for all the rows it recorded: the operator's
-- one per row (in history order), each agent's one per agent a lease came to or left, and the
-- handoff requests the changes of holder ended, in one DELETE.
CREATE FUNCTION lease_history_notify_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('streamhouse_lease',
                      n.topic || '/' || n.partition || ' ' || n.epoch || ' ' || coalesce(n.to_holder, '')
                      || ' ' || coalesce(n.from_holder, ''))
       FROM recorded_rows n ORDER BY n.id;
    PERFORM pg_notify(lease_agent_channel(a.agent), '')
       FROM (SELECT n.to_holder FROM recorded_rows n WHERE n.to_holder IS NOT NULL
             UNION
             SELECT n.from_holder FROM recorded_rows n WHERE n.from_holder IS NOT NULL) AS a(agent);
    DELETE FROM lease_handoff h USING recorded_rows n WHERE h.topic = n.topic AND h.partition = n.partition;
    RETURN NULL;
END;
$$;

DROP TRIGGER lease_history_notify ON lease_history;
CREATE TRIGGER lease_history_notify
    AFTER INSERT ON lease_history REFERENCING NEW TABLE AS recorded_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lease_history_notify_rows();
DROP FUNCTION lease_history_notify();
