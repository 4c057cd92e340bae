-- StreamHouse lease store, version 9: each compare-and-swap that changes a holder also says since
-- when the partition had no valid holder (issue 20: the histogram streamhouse_partition_unheld_seconds).
--
-- The database is the only place that knows it on one clock: a lease stops being valid when its
-- holder's session expires or ends (expires_at is then the moment of the end), or when it is
-- released (the row's updated_at). The operator measures acquired_at - unheld_since.
--
--   no holder, epoch > 0   released: since the release (updated_at)
--   holder not live        since its session's expires_at; when a newer incarnation of the same
--                          agent has registered since, the old one was over at the latest then
--                          (registered_at): the gap is then at least what is reported
--   holder live            a takeover: no gap (now())
--   never held (epoch 0)   NULL: a new partition waiting for its first holder is not a gap
--                          (streamhouse_partitions_unassigned shows those)
--
-- A return type cannot be changed in place: the three acquire functions are dropped and created
-- again, with their EXECUTE grants carried over, SECURITY DEFINER and the pinned search_path as in V8.

CREATE TEMPORARY TABLE v9_acquire_grants ON COMMIT DROP AS
SELECT p.proname::text AS proname, a.grantee::regrole::text AS grantee
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.pronamespace = current_schema()::regnamespace
   AND p.proname IN ('lease_acquire', 'lease_acquire_batch', 'lease_acquire_row')
   AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner;

DROP FUNCTION lease_acquire_batch(varchar[], integer[], varchar[], bigint[], varchar[], bigint[], varchar);
DROP FUNCTION lease_acquire(varchar, integer, varchar, bigint, varchar, bigint, varchar);
DROP FUNCTION lease_acquire_row(varchar, integer, varchar, bigint, varchar, bigint, varchar, boolean);

-- Since when the lease of a row as it stands had no valid holder (the table above).
CREATE FUNCTION lease_unheld_since(p_holder varchar, p_session bigint, p_epoch bigint,
                                   p_updated timestamptz, p_live boolean)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE
               WHEN p_epoch = 0 THEN NULL
               WHEN p_holder IS NULL THEN p_updated
               WHEN p_live THEN now()
               ELSE (SELECT CASE WHEN s.session_epoch = p_session THEN s.expires_at ELSE s.registered_at END
                       FROM agent_session s WHERE s.agent_id = p_holder)
           END;
$$;

-- As in V3, plus unheld_since (set for ACQUIRED only).
CREATE FUNCTION lease_acquire_row(p_topic varchar, p_partition integer, p_agent varchar,
                                  p_session bigint, p_expected_holder varchar,
                                  p_expected_epoch bigint, p_reason varchar, p_wait boolean)
RETURNS TABLE (outcome text, holder varchar, holder_session bigint, epoch bigint,
               previous_holder varchar, acquired_at timestamptz, updated_at timestamptz,
               holder_live boolean, unheld_since timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    cur partition_lease%ROWTYPE;
    cur_live boolean;
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);
    FOR attempt IN 1..2 LOOP
        IF p_wait THEN
            SELECT * INTO cur FROM partition_lease l
             WHERE l.topic = p_topic AND l.partition = p_partition FOR UPDATE;
        ELSE
            SELECT * INTO cur FROM partition_lease l
             WHERE l.topic = p_topic AND l.partition = p_partition FOR UPDATE SKIP LOCKED;
        END IF;
        EXIT WHEN FOUND;
        SELECT * INTO cur FROM partition_lease l WHERE l.topic = p_topic AND l.partition = p_partition;
        IF FOUND THEN -- there, but locked by someone else: skipped, not waited for
            RETURN QUERY SELECT 'LOCKED', cur.holder, cur.holder_session, cur.epoch, cur.previous_holder,
                                cur.acquired_at, cur.updated_at,
                                cur.holder IS NOT NULL AND session_live(cur.holder, cur.holder_session),
                                NULL::timestamptz;
            RETURN;
        END IF;
        IF attempt = 2 THEN -- inserted by someone else and still locked by them
            RETURN QUERY SELECT 'LOCKED', NULL::varchar, NULL::bigint, 0::bigint, NULL::varchar,
                                NULL::timestamptz, NULL::timestamptz, false, NULL::timestamptz;
            RETURN;
        END IF;
        INSERT INTO partition_lease (topic, partition) VALUES (p_topic, p_partition) ON CONFLICT DO NOTHING;
    END LOOP;

    cur_live := cur.holder IS NOT NULL AND session_live(cur.holder, cur.holder_session);

    IF cur.holder = p_agent AND cur.holder_session = p_session THEN
        RETURN QUERY SELECT
            CASE WHEN cur_live THEN 'ALREADY_HELD' ELSE 'AGENT_NOT_LIVE' END,
            cur.holder, cur.holder_session, cur.epoch, cur.previous_holder, cur.acquired_at,
            cur.updated_at, cur_live, NULL::timestamptz;
        RETURN;
    END IF;

    IF NOT session_live(p_agent, p_session) THEN
        RETURN QUERY SELECT 'AGENT_NOT_LIVE', cur.holder, cur.holder_session, cur.epoch,
                            cur.previous_holder, cur.acquired_at, cur.updated_at, cur_live, NULL::timestamptz;
        RETURN;
    END IF;

    IF cur.holder IS NULL OR NOT cur_live
       OR (cur.holder = p_expected_holder AND cur.epoch = p_expected_epoch) THEN
        UPDATE partition_lease l
           SET holder = p_agent, holder_session = p_session, epoch = cur.epoch + 1,
               previous_holder = coalesce(cur.holder, cur.previous_holder),
               acquired_at = now(), updated_at = now()
         WHERE l.topic = p_topic AND l.partition = p_partition;
        INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason)
             VALUES (p_topic, p_partition, cur.epoch + 1, cur.holder, p_agent, p_reason);
        RETURN QUERY SELECT 'ACQUIRED', p_agent, p_session, cur.epoch + 1,
                            coalesce(cur.holder, cur.previous_holder), now(), now(), true,
                            lease_unheld_since(cur.holder, cur.holder_session, cur.epoch, cur.updated_at, cur_live);
        RETURN;
    END IF;

    RETURN QUERY SELECT 'HELD_BY_OTHER', cur.holder, cur.holder_session, cur.epoch,
                        cur.previous_holder, cur.acquired_at, cur.updated_at, cur_live, NULL::timestamptz;
END;
$$;

-- One partition: waits for the row lock (bounded by the caller's lock_timeout).
CREATE FUNCTION lease_acquire(p_topic varchar, p_partition integer, p_agent varchar,
                              p_session bigint, p_expected_holder varchar,
                              p_expected_epoch bigint, p_reason varchar)
RETURNS TABLE (outcome text, holder varchar, holder_session bigint, epoch bigint,
               previous_holder varchar, acquired_at timestamptz, updated_at timestamptz,
               holder_live boolean, unheld_since timestamptz)
LANGUAGE sql AS $$
    SELECT * FROM lease_acquire_row(p_topic, p_partition, p_agent, p_session, p_expected_holder,
                                    p_expected_epoch, p_reason, true);
$$;

-- As in V6, plus unheld_since (set for ACQUIRED only), from one more join on agent_session.
CREATE FUNCTION lease_acquire_batch(p_topics varchar[], p_partitions integer[],
                                    p_agents varchar[], p_sessions bigint[],
                                    p_expected_holders varchar[], p_expected_epochs bigint[],
                                    p_reason varchar)
RETURNS TABLE (topic varchar, partition integer, outcome text, holder varchar,
               holder_session bigint, epoch bigint, previous_holder varchar,
               acquired_at timestamptz, updated_at timestamptz, holder_live boolean,
               unheld_since timestamptz)
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
        SELECT r.topic, r.partition, r.agent, r.session, r.expected_holder, r.expected_epoch,
               k.topic IS NOT NULL AS got,
               c.holder AS cur_holder, c.holder_session AS cur_session, coalesce(c.epoch, 0) AS cur_epoch,
               c.previous_holder AS cur_previous, c.acquired_at AS cur_acquired, c.updated_at AS cur_updated,
               hv.agent_id IS NOT NULL AS cur_live,
               av.agent_id IS NOT NULL AS agent_live,
               CASE WHEN coalesce(c.epoch, 0) = 0 THEN NULL
                    WHEN c.holder IS NULL THEN c.updated_at
                    WHEN hv.agent_id IS NOT NULL THEN now()
                    WHEN hs.session_epoch = c.holder_session THEN hs.expires_at
                    ELSE hs.registered_at
               END AS cur_unheld_since
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
          LEFT JOIN agent_session hs ON hs.agent_id = c.holder
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
           CASE WHEN d.outcome = 'ACQUIRED' THEN true ELSE d.cur_holder IS NOT NULL AND d.cur_live END,
           CASE WHEN d.outcome = 'ACQUIRED' THEN d.cur_unheld_since END
      FROM decided d
     ORDER BY d.topic, d.partition;
END;
$$;

DO $$
DECLARE
    f regprocedure;
    g record;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace = current_schema()::regnamespace
           AND p.proname IN ('lease_acquire', 'lease_acquire_batch', 'lease_acquire_row', 'lease_unheld_since')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
    FOR g IN SELECT * FROM v9_acquire_grants LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s',
                       (SELECT p.oid::regprocedure FROM pg_proc p
                         WHERE p.pronamespace = current_schema()::regnamespace AND p.proname = g.proname),
                       g.grantee);
    END LOOP;
END;
$$;
