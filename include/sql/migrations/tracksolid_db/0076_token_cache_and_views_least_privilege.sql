-- Least privilege (checked against the declared matrix in include/fleet_db/privileges.py by
-- tests/test_privilege_matrix.py).
-- 1. tracksolid.api_token_cache holds live access and refresh tokens. 0005 granted SELECT ON ALL TABLES (and
--    default SELECT on future ones) to grafana_ro and dwh_owner, which included it: only the ingestion role,
--    which renews the tokens, may read or write it. The warehouse never extracts it.
REVOKE ALL ON tracksolid.api_token_cache FROM grafana_ro, dwh_owner, PUBLIC;

-- 2. Views are read-only for every role. 0005's default privileges gave tracksolid_owner INSERT/UPDATE on
--    every new relation, views included (an auto-updatable view would let it write through).
DO $$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT format('%I.%I', n.nspname, c.relname) AS name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND n.nspname IN ('tracksolid', 'ops')
          AND pg_has_role(c.relowner, 'USAGE')
    LOOP
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %s '
                       'FROM tracksolid_owner, dwh_owner, grafana_ro, PUBLIC', v.name);
    END LOOP;
END;
$$;
