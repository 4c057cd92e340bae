-- StreamHouse lease store, version 2: tell listeners (the operator) what changed, at commit.
--
-- Notifications only speed reactions up; nobody relies on them for correctness (a listener that
-- missed some still converges on its periodic reconcile or its own deadlines). They are sent
-- only for transitions, never for a session renewal, so their cost does not grow with time.

-- Every change of holder (acquire, takeover, release) appends history: payload
-- "topic/partition epoch holder" (holder empty when released).
CREATE FUNCTION lease_history_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('streamhouse_lease',
                      NEW.topic || '/' || NEW.partition || ' ' || NEW.epoch || ' ' || coalesce(NEW.to_holder, ''));
    RETURN NULL;
END;
$$;

CREATE TRIGGER lease_history_notify
    AFTER INSERT ON lease_history
    FOR EACH ROW EXECUTE FUNCTION lease_history_notify();

-- A session that starts, moves to a new incarnation, or ends early: payload is the agent id.
-- A renewal (expires_at pushed forward) says nothing.
CREATE FUNCTION agent_session_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('streamhouse_session', NEW.agent_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER agent_session_insert_notify
    AFTER INSERT ON agent_session
    FOR EACH ROW EXECUTE FUNCTION agent_session_notify();

CREATE TRIGGER agent_session_change_notify
    AFTER UPDATE ON agent_session
    FOR EACH ROW
    WHEN (OLD.session_epoch IS DISTINCT FROM NEW.session_epoch OR NEW.expires_at < OLD.expires_at)
    EXECUTE FUNCTION agent_session_notify();
