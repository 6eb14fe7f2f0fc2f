-- Least privilege (checked against the declared matrix in include/fleet_db/privileges.py by
-- tests/test_privilege_matrix.py): views are read-only for every role. 0002's default privileges gave
-- dwh_owner INSERT/UPDATE/DELETE/TRUNCATE on every new relation, views included (e.g. silver.fixes).
DO $$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT format('%I.%I', n.nspname, c.relname) AS name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND n.nspname IN ('bronze', 'silver', 'gold', 'dwh_control')
          AND pg_has_role(c.relowner, 'USAGE')
    LOOP
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %s '
                       'FROM tracksolid_owner, dwh_owner, grafana_ro, PUBLIC', v.name);
    END LOOP;
END;
$$;
