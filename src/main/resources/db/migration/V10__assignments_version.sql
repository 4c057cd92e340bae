-- StreamHouse lease store, version 10: a number per agent that grows, in the same transaction,
-- with every change to what lease_assignments answers it (a lease coming to it or leaving it, a
-- handoff asked of it or withdrawn). An agent checks its leases after every renewal; with this
-- number the check is one row (lease_assignments_version), and the look (a thousand rows for an
-- agent holding a thousand leases) is made only when the number moved since the last look. At
-- 100 agents renewing every third of a 20 s timeout that was 15 looks of 1,000 rows a second,
-- steady state: reads that grew with partitions, now with agents only.
--
-- Read the number before the look: the look then shows at least every change the number counts
-- (a change made between the two is shown too, and counted again, which costs one look more).

CREATE TABLE lease_agent_change (
    agent_id varchar(63) PRIMARY KEY,
    version  bigint      NOT NULL CHECK (version > 0)
);
REVOKE ALL ON lease_agent_change FROM PUBLIC;

-- Agents in id order: two transactions that count the same agents lock their rows in one order.
CREATE FUNCTION lease_agents_changed(p_agents varchar[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO lease_agent_change AS c (agent_id, version)
    SELECT DISTINCT a.agent, 1 FROM unnest(p_agents) AS a(agent) WHERE a.agent IS NOT NULL ORDER BY 1
    ON CONFLICT (agent_id) DO UPDATE SET version = c.version + 1;
$$;

-- Every change of holder is appended to the history (one statement for a batch of them).
CREATE FUNCTION lease_history_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lease_agents_changed(array(SELECT n.to_holder FROM counted_rows n
                                       UNION SELECT n.from_holder FROM counted_rows n));
    RETURN NULL;
END;
$$;

CREATE TRIGGER lease_history_count_changes
    AFTER INSERT ON lease_history REFERENCING NEW TABLE AS counted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION lease_history_count_changes();

-- A handoff asked of a holder, withdrawn, or ended by the change of holder (one row at a time:
-- planned moves go a few at a time).
CREATE FUNCTION lease_handoff_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM lease_agents_changed(ARRAY[OLD.holder]);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM lease_agents_changed(ARRAY[NEW.holder]);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER lease_handoff_count_changes
    AFTER INSERT OR UPDATE OR DELETE ON lease_handoff
    FOR EACH ROW EXECUTE FUNCTION lease_handoff_count_changes();

-- The number for the agent: 0 before its first change. Only for the agent itself (and trusted roles).
CREATE FUNCTION lease_assignments_version(p_agent varchar) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM lease_act_as(p_agent);
    RETURN coalesce((SELECT c.version FROM lease_agent_change c WHERE c.agent_id = p_agent), 0);
END;
$$;

-- As V8: run as the owner, search path pinned, callable only by roles granted EXECUTE (the
-- operator grants the agent protocol's functions at its start, this one with them).
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace = current_schema()::regnamespace
           AND p.proname IN ('lease_agents_changed', 'lease_history_count_changes', 'lease_handoff_count_changes',
                             'lease_assignments_version')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp', f, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END;
$$;
