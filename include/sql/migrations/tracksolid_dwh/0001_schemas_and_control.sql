-- Warehouse database: schemas, PostGIS, and the extract control tables (SPEC §3, §6).
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE SCHEMA IF NOT EXISTS bronze;
CREATE SCHEMA IF NOT EXISTS silver;
CREATE SCHEMA IF NOT EXISTS gold;
CREATE SCHEMA IF NOT EXISTS dwh_control;

COMMENT ON SCHEMA bronze IS 'Raw copies of the live tables, loaded from the object store';
COMMENT ON SCHEMA silver IS 'Cleaned fixes and state segments, derived trips/stops/idle/geofence visits';
COMMENT ON SCHEMA gold IS 'Daily facts for dashboards and reports';
COMMENT ON SCHEMA dwh_control IS 'Watermarks and run bookkeeping of the bronze extract';

CREATE OR REPLACE FUNCTION dwh_control.set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE dwh_control.extract_watermarks (
    table_name       text PRIMARY KEY,
    watermark_column text NOT NULL,
    watermark_value  timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER extract_watermarks_updated_at BEFORE UPDATE ON dwh_control.extract_watermarks
    FOR EACH ROW EXECUTE FUNCTION dwh_control.set_updated_at();

CREATE TABLE dwh_control.extract_runs (
    id              bigserial PRIMARY KEY,
    run_id          text NOT NULL,
    table_name      text NOT NULL,
    status          text NOT NULL CHECK (status IN ('started', 'extracted', 'loaded', 'failed')),
    watermark_from  timestamptz,
    watermark_to    timestamptz,
    rows_extracted  bigint,
    rows_loaded     bigint,
    object_key      text,
    error           text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    extracted_at    timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, table_name)
);
CREATE INDEX extract_runs_table_started_idx ON dwh_control.extract_runs (table_name, started_at);
CREATE TRIGGER extract_runs_updated_at BEFORE UPDATE ON dwh_control.extract_runs
    FOR EACH ROW EXECUTE FUNCTION dwh_control.set_updated_at();
