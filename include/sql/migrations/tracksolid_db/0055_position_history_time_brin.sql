-- Time-range reads of position_history on plain PostgreSQL (a day of fixes for an ad-hoc Grafana query, a
-- backfill check, the dashboard benchmark's one-day baseline) read that day's pages instead of the whole table.
-- Fixes arrive in time order, so a BRIN index on gps_time is selective and costs next to nothing on insert.
-- On TimescaleDB the hypertable's chunks (and their default gps_time index) already do this; the BRIN is harmless.
CREATE INDEX IF NOT EXISTS position_history_gps_time_brin
    ON tracksolid.position_history USING brin (gps_time) WITH (pages_per_range = 32);
COMMENT ON INDEX tracksolid.position_history_gps_time_brin IS
    'Time-range reads without a full scan on plain PostgreSQL (fixes are stored in arrival = time order)';
