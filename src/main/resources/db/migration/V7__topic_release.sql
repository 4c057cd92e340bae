-- StreamTopic (issue 17): a topic of N partitions is one Kubernetes resource and N lease rows.
-- Deleting it gives its partitions up in one statement and keeps the rows (holder cleared, epoch
-- kept), so that a topic created again continues from the old epochs: a fencing token is never
-- handed out twice. Each release is recorded in lease_history; the statement trigger of V6 tells
-- every holder on its own channel.

CREATE FUNCTION lease_release_partitions(p_topic varchar, p_partitions integer[], p_reason varchar)
RETURNS TABLE (topic varchar, partition integer, holder varchar, epoch bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);
    RETURN QUERY
    WITH released AS (
        UPDATE partition_lease l
           SET holder = NULL, holder_session = NULL, previous_holder = l.holder, updated_at = now()
         WHERE l.topic = p_topic AND l.partition = ANY (p_partitions) AND l.holder IS NOT NULL
        RETURNING l.topic, l.partition, l.previous_holder AS holder, l.epoch
    ), logged AS (
        INSERT INTO lease_history (topic, partition, epoch, from_holder, to_holder, reason)
        SELECT r.topic, r.partition, r.epoch, r.holder, NULL, p_reason FROM released r
    )
    SELECT r.topic, r.partition, r.holder, r.epoch FROM released r ORDER BY r.partition;
END;
$$;
