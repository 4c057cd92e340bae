-- Test only (RollingUpgradeIT, SchemaUpgradeTest): what a later release's migration looks like to
-- this build, which does not know it. Later migrations only add (docs/upgrading.md): a nullable
-- column at the end of a table, a new table, a new function; nothing this build reads or writes
-- changes meaning until a release after it removes what is no longer used.
ALTER TABLE partition_lease ADD COLUMN later_note text;
CREATE TABLE lease_later_feature (id bigint PRIMARY KEY);
CREATE FUNCTION lease_later_feature_count() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$ SELECT count(*) FROM lease_later_feature $$;
REVOKE ALL ON FUNCTION lease_later_feature_count() FROM PUBLIC;
