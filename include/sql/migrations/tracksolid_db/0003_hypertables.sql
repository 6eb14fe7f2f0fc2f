-- Upgrade the time-series tables to TimescaleDB hypertables when the extension can be loaded.
-- On plain PostgreSQL + PostGIS this migration is a no-op, so the same files run everywhere.
-- Compression and retention need the Timescale licence (not the Apache edition): only then.
DO $$
DECLARE
    tbl record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       OR position('timescaledb' IN current_setting('shared_preload_libraries', true)) = 0 THEN
        RAISE NOTICE 'timescaledb not available: tables stay plain PostgreSQL tables';
        RETURN;
    END IF;

    CREATE EXTENSION IF NOT EXISTS timescaledb;

    FOR tbl IN
        SELECT * FROM (VALUES
            ('tracksolid.position_history', 'gps_time', interval '1 day'),
            ('tracksolid.heartbeats', 'hb_time', interval '7 days'),
            ('tracksolid.fuel_readings', 'reading_time', interval '7 days'),
            ('tracksolid.temperature_readings', 'reading_time', interval '7 days')
        ) AS t(table_name, time_column, chunk)
    LOOP
        EXECUTE format(
            'SELECT create_hypertable(%L, %L, chunk_time_interval => %L::interval, '
            'if_not_exists => true, migrate_data => true)',
            tbl.table_name, tbl.time_column, tbl.chunk);
    END LOOP;

    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        ALTER TABLE tracksolid.position_history SET (
            timescaledb.compress, timescaledb.compress_segmentby = 'imei');
        PERFORM add_compression_policy('tracksolid.position_history', interval '30 days', if_not_exists => true);
        PERFORM add_retention_policy('tracksolid.heartbeats', interval '180 days', if_not_exists => true);
    END IF;
END;
$$;
