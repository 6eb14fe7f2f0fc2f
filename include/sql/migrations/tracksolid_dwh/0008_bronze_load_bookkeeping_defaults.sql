-- Bronze loads COPY straight into the bronze table when none of the file's keys is there yet (issue 6
-- benchmarks): the file holds the source columns only, so the two bookkeeping columns take their values from
-- settings the load transaction sets with set_config(..., true) (fleet_dwh.bronze.load_object).
-- Outside such a transaction the settings are unset or empty, nullif() turns that into NULL and the NOT NULL
-- constraint rejects the row: a writer that forgets the bookkeeping fails loudly instead of writing blanks.
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT c.oid::regclass
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'bronze' AND c.relkind = 'r'
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = '_run_id')
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = '_loaded_at')
    LOOP
        EXECUTE format(
            'ALTER TABLE %s ALTER COLUMN _run_id SET DEFAULT nullif(current_setting(''fleet_dwh.load_run_id'', true), ''''), '
            'ALTER COLUMN _loaded_at SET DEFAULT '
            'nullif(current_setting(''fleet_dwh.load_loaded_at'', true), '''')::timestamptz', t);
    END LOOP;
END;
$$;
