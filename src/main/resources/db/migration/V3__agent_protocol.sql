-- StreamHouse lease store, version 3: the agent protocol as SQL functions, so that an agent in
-- any language (StreamHouse's own are Rust) speaks it exactly as the Java library does.
--
-- What changes (docs/ARCHITECTURE.md, "Fencing", says what is guaranteed and where):
--  * The fence names the caller's incarnation: (agent, session, epoch), never (agent, epoch).
--    Two processes with one agent id are two incarnations; only the newest may write.
--  * lease_fence, the first statement of the caller's own transaction, share-locks the lease row,
--    checks holder, incarnation, epoch and liveness, bounds the transaction by the session's
--    remaining time (lock, statement and idle-in-transaction timeouts) and arms a check that runs
--    at COMMIT: a transaction that reaches COMMIT after its session expired (on the database
--    clock, clock_timestamp()) is rolled back. The share lock is held to the end, so no
--    takeover overtakes a write that passed.
--  * A batch of takeovers never waits on a row a writer holds: such a row comes back LOCKED and
--    is retried; every other row moves at once.
--  * Renewals judge liveness on clock_timestamp() (a renewal that waited on a row lock no longer
--    revives a session that expired meanwhile) and an ended session can never be renewed.
--  * Every function that changes lease state commits with synchronous_commit on, whatever the
--    caller's session says: a holder change or a fenced write is acknowledged only once durable.
--
-- Refusals raise their own SQLSTATEs (class SH), listed in the README:
--   SH001 not the holder        SH002 stale epoch           SH003 superseded incarnation
--   SH004 session expired/ended SH005 expired before commit SH006 no such partition
--   SH007 unknown agent/session SH008 not READ COMMITTED

ALTER TABLE agent_session ADD COLUMN ended_at timestamptz;

-- Live on the database clock: not ended, not expired at the transaction's now(), so that a
-- batch of takeovers judges every holder at one instant. (Renewals, the fence and its
-- commit-time check judge on clock_timestamp(): they must not use a time from before a wait.)
CREATE OR REPLACE FUNCTION session_live(p_agent varchar, p_session bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM agent_session s
                    WHERE s.agent_id = p_agent AND s.session_epoch = p_session
                      AND s.ended_at IS NULL AND s.expires_at > now());
$$;

-- Why (agent, session) cannot act, as the SQLSTATE the protocol documents; NULL when it can.
CREATE FUNCTION lease_session_refusal(s agent_session, p_agent varchar, p_session bigint)
RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF s.agent_id IS NULL OR s.session_epoch < p_session THEN
        RETURN 'SH007';
    ELSIF s.session_epoch > p_session THEN
        RETURN 'SH003';
    ELSIF s.ended_at IS NOT NULL OR s.expires_at <= clock_timestamp() THEN
        RETURN 'SH004';
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION lease_raise(p_state text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = p_message;
END;
$$;

-- ---------------------------------------------------------------- sessions

-- Opens a new incarnation (session epoch + 1; older incarnations of this id are superseded).
CREATE FUNCTION lease_register(p_agent varchar, p_group varchar, p_zone varchar, p_address varchar,
                               p_ttl_ms integer)
RETURNS TABLE (agent_id varchar, session_epoch bigint, agent_group varchar, zone varchar,
               address varchar, ttl_ms integer, registered_at timestamptz, renewed_at timestamptz,
               expires_at timestamptz, live boolean, observed_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := clock_timestamp();
BEGIN
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

-- Extends a live session by its ttl and returns the new expiry; raises SH003 (superseded: stop,
-- do not register again), SH004 (expired or ended: a new incarnation may register) or SH007.
-- The row is locked first and judged after: an UPDATE that waited for a lock held by someone who
-- did not change the row would not look at its condition again, and would revive a session that
-- expired during the wait.
CREATE FUNCTION lease_renew(p_agent varchar, p_session bigint) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    s agent_session%ROWTYPE;
    refusal text;
    t timestamptz;
BEGIN
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

-- Renews many sessions (the operator, for agents it keeps alive); returns the renewed agents.
-- Locks first (in agent order, so that two batches never deadlock), then judges, as above.
CREATE FUNCTION lease_renew_all(p_agents varchar[], p_sessions bigint[]) RETURNS SETOF varchar
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);
    PERFORM 1 FROM agent_session s JOIN unnest(p_agents, p_sessions) AS k(agent_id, session_epoch)
                ON s.agent_id = k.agent_id AND s.session_epoch = k.session_epoch
     ORDER BY s.agent_id FOR UPDATE OF s;
    RETURN QUERY
    WITH t AS (SELECT clock_timestamp() AS at)
    UPDATE agent_session s
       SET renewed_at = t.at, expires_at = t.at + s.ttl_ms * interval '1 millisecond'
      FROM unnest(p_agents, p_sessions) AS k(agent_id, session_epoch), t
     WHERE s.agent_id = k.agent_id AND s.session_epoch = k.session_epoch AND s.ended_at IS NULL
       AND s.expires_at > t.at
    RETURNING s.agent_id;
END;
$$;

-- Zone, address and ttl of a live session, in place (its leases keep their epochs).
CREATE FUNCTION lease_update_session(p_agent varchar, p_session bigint, p_group varchar, p_zone varchar,
                                     p_address varchar, p_ttl_ms integer) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);
    UPDATE agent_session s SET zone = coalesce(p_zone, ''), address = coalesce(p_address, ''), ttl_ms = p_ttl_ms
     WHERE s.agent_id = p_agent AND s.session_epoch = p_session AND s.agent_group = p_group
       AND s.ended_at IS NULL AND s.expires_at > clock_timestamp();
    RETURN FOUND;
END;
$$;

-- Ends a session now (graceful shutdown, or the operator saw the agent go); it can never be
-- renewed again. False when it was not live.
CREATE FUNCTION lease_end_session(p_agent varchar, p_session bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);
    UPDATE agent_session s SET ended_at = clock_timestamp(), expires_at = least(s.expires_at, clock_timestamp())
     WHERE s.agent_id = p_agent AND s.session_epoch = p_session AND s.ended_at IS NULL
       AND s.expires_at > clock_timestamp();
    RETURN FOUND;
END;
$$;

-- ---------------------------------------------------------------- leases, as the agent sees them

-- The leases this incarnation holds, with their epochs (what an agent compares after a renewal).
CREATE FUNCTION lease_held(p_agent varchar, p_session bigint)
RETURNS TABLE (topic varchar, partition integer, epoch bigint)
LANGUAGE sql STABLE AS $$
    SELECT l.topic, l.partition, l.epoch FROM partition_lease l
     WHERE l.holder = p_agent AND l.holder_session = p_session AND session_live(p_agent, p_session)
     ORDER BY l.topic, l.partition;
$$;

-- May (agent, session) write (topic, partition) with epoch? A question, not a fence: answers
-- VALID, NOT_HOLDER, STALE_EPOCH, SUPERSEDED or EXPIRED with the row's holder and epoch.
CREATE FUNCTION lease_validate(p_topic varchar, p_partition integer, p_agent varchar, p_session bigint,
                               p_epoch bigint)
RETURNS TABLE (status text, holder varchar, epoch bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    l partition_lease%ROWTYPE;
    s agent_session%ROWTYPE;
    refusal text;
BEGIN
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

-- Fences armed in open transactions, checked and deleted at their COMMIT. Unlogged: a row lives
-- only inside its own transaction, and nothing of it needs to survive a crash.
CREATE UNLOGGED TABLE lease_fence_pending (
    agent_id      varchar(63)  NOT NULL,
    session_epoch bigint       NOT NULL,
    topic         varchar(249) NOT NULL,
    partition     integer      NOT NULL,
    epoch         bigint       NOT NULL
);

-- The commit-time check: runs at COMMIT (deferred), after the caller's last statement, while
-- the share lock taken by lease_fence is still held. Kept to two statements: it runs on every
-- fenced commit.
CREATE FUNCTION lease_fence_at_commit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM lease_fence_pending p WHERE p.ctid = NEW.ctid;
    PERFORM 1 FROM agent_session a
      WHERE a.agent_id = NEW.agent_id AND a.session_epoch = NEW.session_epoch AND a.ended_at IS NULL
        AND a.expires_at > clock_timestamp();
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SH005', MESSAGE = format(
            'fenced write to %s/%s at epoch %s refused at commit: session %s of %s is no longer live',
            NEW.topic, NEW.partition, NEW.epoch, NEW.session_epoch, NEW.agent_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER lease_fence_at_commit
    AFTER INSERT ON lease_fence_pending
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION lease_fence_at_commit();

-- The fence. Call it as the first statement of the transaction that does the writes:
--   BEGIN; SELECT lease_fence(topic, partition, agent, session, epoch); <writes>; COMMIT;
-- It raises (and the caller rolls back) unless (agent, session) holds the partition at epoch
-- with a live session; it share-locks the row (a takeover waits for, or skips, this
-- transaction); it bounds the transaction by the session's remaining time; and it arms the
-- commit-time check above. Returns the milliseconds the session has left.
-- Do not defer it past other writes with SET CONSTRAINTS, and do not use it with PREPARE
-- TRANSACTION: the commit-time check runs at PREPARE.
CREATE FUNCTION lease_fence(p_topic varchar, p_partition integer, p_agent varchar, p_session bigint,
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
    SELECT * INTO s FROM agent_session a WHERE a.agent_id = p_agent;
    left_ms := floor(extract(epoch FROM s.expires_at - clock_timestamp()) * 1000);
    IF s.session_epoch IS DISTINCT FROM p_session OR s.ended_at IS NOT NULL OR left_ms < 1 THEN
        refusal := coalesce(lease_session_refusal(s, p_agent, p_session), 'SH004');
        PERFORM lease_raise(refusal, format('%s/%s: session %s of %s %s', p_topic, p_partition, p_session, p_agent,
            CASE refusal WHEN 'SH003' THEN 'was superseded by session ' || s.session_epoch
                         WHEN 'SH004' THEN 'expired or ended'
                         ELSE 'is unknown' END));
    END IF;
    -- Bounded by the session: a lock wait, any later statement and any pause between statements
    -- end by the time the session would expire (a paused writer's connection is closed by the
    -- server, which releases its lock). Local to this transaction.
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

-- Gives one partition up; false when this incarnation did not hold it at that epoch.
CREATE FUNCTION lease_release(p_topic varchar, p_partition integer, p_agent varchar, p_session bigint,
                              p_epoch bigint, p_reason varchar) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    released bigint;
BEGIN
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

-- Gives every partition of this incarnation up; returns them.
CREATE FUNCTION lease_release_all(p_agent varchar, p_session bigint, p_reason varchar)
RETURNS TABLE (topic varchar, partition integer)
LANGUAGE plpgsql AS $$
BEGIN
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

-- ---------------------------------------------------------------- the operator's compare-and-swap

-- As lease_acquire in V1, plus: p_wait false takes no lock it would have to wait for (a row a
-- fenced writer or another move holds comes back LOCKED, to be retried), and the holder change is
-- committed durably.
CREATE FUNCTION lease_acquire_row(p_topic varchar, p_partition integer, p_agent varchar,
                                  p_session bigint, p_expected_holder varchar,
                                  p_expected_epoch bigint, p_reason varchar, p_wait boolean)
RETURNS TABLE (outcome text, holder varchar, holder_session bigint, epoch bigint,
               previous_holder varchar, acquired_at timestamptz, updated_at timestamptz,
               holder_live boolean)
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
                                cur.holder IS NOT NULL AND session_live(cur.holder, cur.holder_session);
            RETURN;
        END IF;
        IF attempt = 2 THEN -- inserted by someone else and still locked by them
            RETURN QUERY SELECT 'LOCKED', NULL::varchar, NULL::bigint, 0::bigint, NULL::varchar,
                                NULL::timestamptz, NULL::timestamptz, false;
            RETURN;
        END IF;
        INSERT INTO partition_lease (topic, partition) VALUES (p_topic, p_partition) ON CONFLICT DO NOTHING;
    END LOOP;

    cur_live := cur.holder IS NOT NULL AND session_live(cur.holder, cur.holder_session);

    IF cur.holder = p_agent AND cur.holder_session = p_session THEN
        RETURN QUERY SELECT
            CASE WHEN cur_live THEN 'ALREADY_HELD' ELSE 'AGENT_NOT_LIVE' END,
            cur.holder, cur.holder_session, cur.epoch, cur.previous_holder, cur.acquired_at,
            cur.updated_at, cur_live;
        RETURN;
    END IF;

    IF NOT session_live(p_agent, p_session) THEN
        RETURN QUERY SELECT 'AGENT_NOT_LIVE', cur.holder, cur.holder_session, cur.epoch,
                            cur.previous_holder, cur.acquired_at, cur.updated_at, cur_live;
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
                            coalesce(cur.holder, cur.previous_holder), now(), now(), true;
        RETURN;
    END IF;

    RETURN QUERY SELECT 'HELD_BY_OTHER', cur.holder, cur.holder_session, cur.epoch,
                        cur.previous_holder, cur.acquired_at, cur.updated_at, cur_live;
END;
$$;

-- One partition: waits for the row lock (bounded by the caller's lock_timeout).
CREATE OR REPLACE FUNCTION lease_acquire(p_topic varchar, p_partition integer, p_agent varchar,
                                         p_session bigint, p_expected_holder varchar,
                                         p_expected_epoch bigint, p_reason varchar)
RETURNS TABLE (outcome text, holder varchar, holder_session bigint, epoch bigint,
               previous_holder varchar, acquired_at timestamptz, updated_at timestamptz,
               holder_live boolean)
LANGUAGE sql AS $$
    SELECT * FROM lease_acquire_row(p_topic, p_partition, p_agent, p_session, p_expected_holder,
                                    p_expected_epoch, p_reason, true);
$$;

-- Many partitions in one transaction, rows in (topic, partition) order; a row that cannot be
-- locked at once is LOCKED, never waited for, so one stuck writer never holds up the others.
CREATE OR REPLACE FUNCTION lease_acquire_batch(p_topics varchar[], p_partitions integer[],
                                               p_agents varchar[], p_sessions bigint[],
                                               p_expected_holders varchar[], p_expected_epochs bigint[],
                                               p_reason varchar)
RETURNS TABLE (topic varchar, partition integer, outcome text, holder varchar,
               holder_session bigint, epoch bigint, previous_holder varchar,
               acquired_at timestamptz, updated_at timestamptz, holder_live boolean)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT * FROM unnest(p_topics, p_partitions, p_agents, p_sessions,
                             p_expected_holders, p_expected_epochs)
                AS t(topic, partition, agent, session, expected_holder, expected_epoch)
        ORDER BY t.topic, t.partition
    LOOP
        RETURN QUERY SELECT r.topic, r.partition, a.*
            FROM lease_acquire_row(r.topic, r.partition, r.agent, r.session,
                                   r.expected_holder, r.expected_epoch, p_reason, false) a;
    END LOOP;
END;
$$;
