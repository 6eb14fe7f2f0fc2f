-- Least-privilege roles. Roles are cluster-wide: created only when missing, never with a password
-- (scripts/set_role_passwords.py sets passwords from the environment at deploy time).
--   tracksolid_owner: ingestion writes (select/insert/update) on tracksolid + ops
--   dwh_owner:        reads the live database for the warehouse extract
--   grafana_ro:       read-only on every table and view
SELECT pg_advisory_xact_lock(hashtext('fleet.roles'));  -- two databases migrating at once share roles

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['tracksolid_owner', 'dwh_owner', 'grafana_ro'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created concurrently by another database's migration
            END;
        END IF;
    END LOOP;
    -- Temporary tables only for the writers (COPY staging); grafana_ro creates nothing anywhere.
    EXECUTE format('REVOKE TEMPORARY, CREATE ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO tracksolid_owner, dwh_owner, grafana_ro', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO tracksolid_owner, dwh_owner', current_database());
END;
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- The migration ledger (created by the runner) is readable for pipeline-health dashboards.
GRANT SELECT ON public.schema_migrations TO dwh_owner, grafana_ro;
GRANT USAGE ON SCHEMA tracksolid, ops, public TO tracksolid_owner, dwh_owner, grafana_ro;

GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA tracksolid, ops TO tracksolid_owner;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA tracksolid, ops TO tracksolid_owner;
GRANT SELECT ON ALL TABLES IN SCHEMA tracksolid, ops TO dwh_owner, grafana_ro;

-- Objects created by later migrations (run by the same role) get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA tracksolid, ops
    GRANT SELECT, INSERT, UPDATE ON TABLES TO tracksolid_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA tracksolid, ops
    GRANT USAGE, SELECT ON SEQUENCES TO tracksolid_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA tracksolid, ops
    GRANT SELECT ON TABLES TO dwh_owner, grafana_ro;
