-- StreamHouse lease store, version 4: a graceful shutdown in one transaction.
--
-- An agent that releases all its leases and then ends its session in two transactions can be
-- given a lease back in between (it is still live, and the plan may still place leases on it);
-- that lease then waits for a failover instead of moving at once. lease_shutdown does both at
-- once: the session ends and every lease of it is released (history reason p_reason), so the
-- operator only ever sees a departed agent with nothing held.
CREATE FUNCTION lease_shutdown(p_agent varchar, p_session bigint, p_reason varchar)
RETURNS TABLE (topic varchar, partition integer)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);
    PERFORM lease_end_session(p_agent, p_session);
    RETURN QUERY SELECT * FROM lease_release_all(p_agent, p_session, p_reason);
END;
$$;
