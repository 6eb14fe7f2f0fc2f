-- Schemas, PostGIS, and the shared updated_at trigger function.
-- TimescaleDB is optional: 0003 upgrades tables to hypertables only when the extension is available.

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE SCHEMA IF NOT EXISTS tracksolid;
CREATE SCHEMA IF NOT EXISTS ops;

COMMENT ON SCHEMA tracksolid IS 'Live telematics data ingested from the Tracksolid API and push';
COMMENT ON SCHEMA ops IS 'Operational data: job tickets, workshop history, manual odometer captures';

-- One trigger function for every table whose rows change after insert.
CREATE OR REPLACE FUNCTION tracksolid.set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
