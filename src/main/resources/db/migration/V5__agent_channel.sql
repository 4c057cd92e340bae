-- StreamHouse lease store, version 5: agents learn their leases from the database.
--
-- An agent listens on a channel of its own (lease_agent_channel) and is notified at commit
-- whenever a lease comes to it or leaves it, and when it is asked to hand one off. The payload
-- is empty: a hint to look (lease_assignments), never the news itself. So PostgreSQL folds the
-- notifications one transaction sends one agent into one (a failover batch of 1,000 leases to an
-- agent wakes it once), no agent receives another agent's traffic, and a forged notification
-- costs the agent one query. The path from a holder change to the new holder's first fenced
-- write involves no Kubernetes API request.

-- The channel an agent listens on. Hashed because a channel name has at most 63 bytes and an
-- agent id may have 63 characters already; any client computes it with this function.
CREATE FUNCTION lease_agent_channel(p_agent varchar) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 'streamhouse_agent_' || md5(p_agent);
$$;

-- A planned move asked of a holder that keeps its own session: release (topic, partition) at
-- this epoch for target. One row per partition at most; it names the incarnation and epoch it
-- was asked of, so a request outlived by a change of holder never applies to the next holder.
-- Kept apart from partition_lease so that asking never waits on a fenced writer's share lock.
CREATE TABLE lease_handoff (
    topic          varchar(249) NOT NULL,
    partition      integer      NOT NULL,
    holder         varchar(63)  NOT NULL,
    holder_session bigint       NOT NULL,
    epoch          bigint       NOT NULL,
    target         varchar(63)  NOT NULL,
    requested_at   timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Every change of holder notifies the operator (as in V2, and now naming the previous holder too:
-- payload "topic/partition epoch holder previous", each holder empty when none, so that both
-- agents' StreamAgents are refreshed), the agent the lease came to and the one it left, and ends
-- any handoff request made of the previous holder.
CREATE OR REPLACE FUNCTION lease_history_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('streamhouse_lease',
                      NEW.topic || '/' || NEW.partition || ' ' || NEW.epoch || ' ' || coalesce(NEW.to_holder, '')
                      || ' ' || coalesce(NEW.from_holder, ''));
    IF NEW.to_holder IS NOT NULL THEN
        PERFORM pg_notify(lease_agent_channel(NEW.to_holder), '');
    END IF;
    IF NEW.from_holder IS NOT NULL AND NEW.from_holder IS DISTINCT FROM NEW.to_holder THEN
        PERFORM pg_notify(lease_agent_channel(NEW.from_holder), '');
    END IF;
    DELETE FROM lease_handoff h WHERE h.topic = NEW.topic AND h.partition = NEW.partition;
    RETURN NULL;
END;
$$;

-- The operator asks the incarnation holding (topic, partition) at p_epoch to release it for
-- p_target. False when that incarnation does not hold it at that epoch (nothing is recorded).
-- Asking again is free: the holder is notified only when the request is new or changed.
CREATE FUNCTION lease_request_handoff(p_topic varchar, p_partition integer, p_holder varchar,
                                      p_session bigint, p_epoch bigint, p_target varchar)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM partition_lease l
     WHERE l.topic = p_topic AND l.partition = p_partition AND l.holder = p_holder
       AND l.holder_session = p_session AND l.epoch = p_epoch;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO lease_handoff AS h (topic, partition, holder, holder_session, epoch, target)
         VALUES (p_topic, p_partition, p_holder, p_session, p_epoch, p_target)
    ON CONFLICT (topic, partition) DO UPDATE
       SET holder = EXCLUDED.holder, holder_session = EXCLUDED.holder_session, epoch = EXCLUDED.epoch,
           target = EXCLUDED.target, requested_at = now()
     WHERE (h.holder, h.holder_session, h.epoch, h.target)
           IS DISTINCT FROM (EXCLUDED.holder, EXCLUDED.holder_session, EXCLUDED.epoch, EXCLUDED.target);
    IF FOUND THEN
        PERFORM pg_notify(lease_agent_channel(p_holder), '');
    END IF;
    RETURN true;
END;
$$;

-- The move is no longer wanted (the plan changed before the holder released).
CREATE FUNCTION lease_cancel_handoff(p_topic varchar, p_partition integer) RETURNS boolean
LANGUAGE sql AS $$
    WITH gone AS (DELETE FROM lease_handoff h WHERE h.topic = p_topic AND h.partition = p_partition RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM gone);
$$;

-- What an agent acts on: the leases this incarnation holds, with their epochs, and the agent a
-- planned move asks it to release one for (null when none). Empty when the session is not live.
-- Agents call it on every notification, after every (re)connect of their LISTEN connection and
-- after every renewal, and make their cache equal to the answer.
CREATE FUNCTION lease_assignments(p_agent varchar, p_session bigint)
RETURNS TABLE (topic varchar, partition integer, epoch bigint, handoff_to varchar)
LANGUAGE sql STABLE AS $$
    SELECT l.topic, l.partition, l.epoch, h.target
      FROM partition_lease l
      LEFT JOIN lease_handoff h
        ON h.topic = l.topic AND h.partition = l.partition AND h.holder = l.holder
       AND h.holder_session = l.holder_session AND h.epoch = l.epoch
     WHERE l.holder = p_agent AND l.holder_session = p_session AND session_live(p_agent, p_session)
     ORDER BY l.topic, l.partition;
$$;
