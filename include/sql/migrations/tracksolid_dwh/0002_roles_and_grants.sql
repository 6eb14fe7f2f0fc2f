-- Warehouse privileges. Roles are created by the live database's migration 0005 when missing;
-- created here too so the warehouse can be migrated first or on its own server.
SELECT pg_advisory_xact_lock(hashtext('fleet.roles'));

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['tracksolid_owner', 'dwh_owner', 'grafana_ro'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
    EXECUTE format('REVOKE TEMPORARY, CREATE ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO dwh_owner, grafana_ro', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO dwh_owner', current_database());
END;
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- The migration ledger (created by the runner) is readable for pipeline-health dashboards.
GRANT SELECT ON public.schema_migrations TO dwh_owner, grafana_ro;
GRANT USAGE ON SCHEMA bronze, silver, gold, dwh_control, public TO dwh_owner, grafana_ro;

-- dwh_owner loads and rebuilds: it may delete (snapshot tables are replaced whole, days are rebuilt).
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA bronze, silver, gold, dwh_control TO dwh_owner;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA bronze, silver, gold, dwh_control TO dwh_owner;
GRANT SELECT ON ALL TABLES IN SCHEMA bronze, silver, gold, dwh_control TO grafana_ro;

ALTER DEFAULT PRIVILEGES IN SCHEMA bronze, silver, gold, dwh_control
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO dwh_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA bronze, silver, gold, dwh_control
    GRANT USAGE, SELECT ON SEQUENCES TO dwh_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA bronze, silver, gold, dwh_control
    GRANT SELECT ON TABLES TO grafana_ro;
