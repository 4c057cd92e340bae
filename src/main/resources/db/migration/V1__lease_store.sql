-- StreamHouse lease store, version 1.
--
-- Invariants (docs/ARCHITECTURE.md, "Lease store"):
--  * partition_lease.epoch only grows, by exactly one per change of holder incarnation.
--  * A lease is valid while its holder's session row has the same session_epoch and
--    expires_at > now(); there is no per-partition expiry, so renewal costs one row per agent.
--  * Every time is the database clock (now()); clients never write a timestamp.
--  * lease_history is append-only.

-- One row per agent id. session_epoch grows with every incarnation (register), so a zombie of
-- an older incarnation can neither renew nor hold a lease.
CREATE TABLE agent_session (
    agent_id      varchar(63)  PRIMARY KEY,
    session_epoch bigint       NOT NULL CHECK (session_epoch > 0),
    agent_group   varchar(63)  NOT NULL,
    zone          varchar(63)  NOT NULL DEFAULT '',
    address       varchar(255) NOT NULL DEFAULT '',
    ttl_ms        integer      NOT NULL CHECK (ttl_ms > 0),
    registered_at timestamptz  NOT NULL,
    renewed_at    timestamptz  NOT NULL,
    expires_at    timestamptz  NOT NULL
) WITH (fillfactor = 70); -- renewals rewrite rows constantly: leave room for HOT updates

CREATE TABLE partition_lease (
    topic          varchar(249) NOT NULL,
    partition      integer      NOT NULL CHECK (partition >= 0),
    holder         varchar(63),
    holder_session bigint,
    epoch          bigint       NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    previous_holder varchar(63),
    acquired_at    timestamptz,
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition),
    CHECK ((holder IS NULL) = (holder_session IS NULL))
) WITH (fillfactor = 70);

CREATE INDEX partition_lease_holder_idx ON partition_lease (holder) WHERE holder IS NOT NULL;

CREATE TABLE lease_history (
    id          bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       varchar(249) NOT NULL,
    partition   integer      NOT NULL,
    epoch       bigint       NOT NULL,
    from_holder varchar(63),
    to_holder   varchar(63),
    reason      varchar(63)  NOT NULL,
    at          timestamptz  NOT NULL DEFAULT now()
);

CREATE INDEX lease_history_partition_idx ON lease_history (topic, partition, id);

CREATE FUNCTION lease_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lease_history is append-only (% refused)', TG_OP;
END;
$$;

CREATE TRIGGER lease_history_no_rewrite
    BEFORE UPDATE OR DELETE ON lease_history
    FOR EACH STATEMENT EXECUTE FUNCTION lease_history_append_only();

-- True when (agent, session) names a session that is alive on the database clock.
CREATE FUNCTION session_live(p_agent varchar, p_session bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM agent_session s
                    WHERE s.agent_id = p_agent AND s.session_epoch = p_session
                      AND s.expires_at > now());
$$;

-- The compare-and-swap. Gives (topic, partition) to (agent, session) when
--   the agent's session is live, and
--   the row has no holder, or the holder's session is dead, or the holder and epoch are the
--   ones the caller expected (a planned move).
-- Re-ensuring by the current holder incarnation changes nothing and keeps the epoch.
-- Outcomes: ACQUIRED, ALREADY_HELD, HELD_BY_OTHER, AGENT_NOT_LIVE; the row as it stands after
-- the call is returned either way, so a failed CAS says who holds it and at which epoch.
CREATE FUNCTION lease_acquire(p_topic varchar, p_partition integer, p_agent varchar,
                              p_session bigint, p_expected_holder varchar,
                              p_expected_epoch bigint, p_reason varchar)
RETURNS TABLE (outcome text, holder varchar, holder_session bigint, epoch bigint,
               previous_holder varchar, acquired_at timestamptz, updated_at timestamptz,
               holder_live boolean)
LANGUAGE plpgsql AS $$
DECLARE
    cur partition_lease%ROWTYPE;
    cur_live boolean;
BEGIN
    SELECT * INTO cur FROM partition_lease l
     WHERE l.topic = p_topic AND l.partition = p_partition FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO partition_lease (topic, partition) VALUES (p_topic, p_partition)
            ON CONFLICT DO NOTHING;
        SELECT * INTO cur FROM partition_lease l
         WHERE l.topic = p_topic AND l.partition = p_partition FOR UPDATE;
    END IF;

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

-- Many CASes in one round trip. Rows are locked in (topic, partition) order so that two
-- concurrent batches can never deadlock on each other.
CREATE FUNCTION lease_acquire_batch(p_topics varchar[], p_partitions integer[],
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
            FROM lease_acquire(r.topic, r.partition, r.agent, r.session,
                               r.expected_holder, r.expected_epoch, p_reason) a;
    END LOOP;
END;
$$;
