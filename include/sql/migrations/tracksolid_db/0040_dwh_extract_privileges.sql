-- The warehouse extract (role dwh_owner) takes its high-water mark from the oldest open transaction of this
-- database (include/sql/dwh/live_high_water_mark.sql). pg_stat_activity shows other roles' xact_start only
-- to members of pg_read_all_stats, and that role would also show their query texts. So dwh_owner gets this
-- one SECURITY DEFINER function instead: it returns the oldest xact_start and whether its owner (the
-- migrating role) can see every session — nothing else.
CREATE OR REPLACE FUNCTION tracksolid.oldest_open_xact_start(OUT oldest_xact_start timestamptz,
                                                              OUT sees_all_sessions boolean)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT min(a.xact_start) FROM pg_stat_activity a
            WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
              AND a.backend_type = 'client backend' AND a.xact_start IS NOT NULL),
           (SELECT r.rolsuper OR pg_has_role(r.oid, 'pg_read_all_stats', 'USAGE')
            FROM pg_roles r WHERE r.rolname = current_user)
$$;
COMMENT ON FUNCTION tracksolid.oldest_open_xact_start IS
    'Start of the oldest open transaction in this database (for the warehouse high-water mark)';
REVOKE ALL ON FUNCTION tracksolid.oldest_open_xact_start() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tracksolid.oldest_open_xact_start() TO dwh_owner;

-- Least privilege: dwh_owner must not read other sessions' query texts (they may carry literal values).
DO $$
BEGIN
    IF pg_has_role('dwh_owner', 'pg_read_all_stats', 'MEMBER') THEN
        REVOKE pg_read_all_stats FROM dwh_owner;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'cannot revoke pg_read_all_stats from dwh_owner: revoke it by hand';
END;
$$;
