-- The database roles of a least-privilege install (docs/database-security.md), for a PostgreSQL
-- you manage yourself. Run once as a user with CREATEROLE (and CREATEDB, for the database), e.g.:
--
--   psql "postgresql://admin@db:5432/postgres" -v owner_password=... -v operator_password=... \
--        -v agent_password=... -f deploy/postgres/roles.sql
--
-- Running it again changes nothing that exists (passwords included: ALTER ROLE ... PASSWORD to
-- rotate one). The names are the defaults of deploy/examples/database-secret.yaml; change them
-- here and there together. On a managed PostgreSQL create the same roles with its admin user.
--
--   streamhouse_owner     owns the schema; the operator migrates and grants as it (streamhouse.db.migration.user)
--   streamhouse_operator  the operator's login (streamhouse.db.user); granted the operator's privileges
--   streamhouse_agents    no login; granted the agents' privileges (streamhouse.db.grant.agents)
--   streamhouse_agent     an agents' login, member of streamhouse_agents (annotation streamhouse.io/database-user)
--
-- More agent logins (one per Deployment, or one per StatefulSet pod):
--   CREATE ROLE "orders-0" LOGIN PASSWORD '...' IN ROLE streamhouse_agents;

\set ON_ERROR_STOP on

SELECT format('CREATE ROLE streamhouse_owner LOGIN PASSWORD %L', :'owner_password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'streamhouse_owner') \gexec
SELECT format('CREATE ROLE streamhouse_operator LOGIN PASSWORD %L', :'operator_password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'streamhouse_operator') \gexec
SELECT 'CREATE ROLE streamhouse_agents NOLOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'streamhouse_agents') \gexec
SELECT format('CREATE ROLE streamhouse_agent LOGIN PASSWORD %L IN ROLE streamhouse_agents', :'agent_password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'streamhouse_agent') \gexec

-- The database, owned by the schema owner (its public schema then is too: PostgreSQL 15 and later).
SELECT 'CREATE DATABASE streamhouse OWNER streamhouse_owner'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'streamhouse') \gexec
