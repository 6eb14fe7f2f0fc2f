-- Every user table whose row count the backup manifest records and the restore check compares: ordinary
-- and partitioned parents, without system schemas, TimescaleDB internals (hypertable parents count their
-- chunks) and tables owned by an extension (restored by CREATE EXTENSION, not from the dump's data).
SELECT n.nspname, c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%'
  AND n.nspname NOT LIKE '\_timescaledb%'
  AND n.nspname NOT IN ('timescaledb_information', 'timescaledb_experimental')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2;
