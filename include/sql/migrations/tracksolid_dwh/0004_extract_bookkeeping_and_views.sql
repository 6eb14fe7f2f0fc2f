-- Extract bookkeeping beyond 0001: when a run's rows were committed and when its object was moved,
-- the pipeline-health views of SPEC §3, and the warehouse's own threshold defaults / per-vehicle overrides.

ALTER TABLE dwh_control.extract_runs
    ADD COLUMN load_mode     text CHECK (load_mode IN ('snapshot', 'incremental')),
    ADD COLUMN loaded_at     timestamptz,   -- set in the load transaction: rows are in bronze
    ADD COLUMN processed_key text,          -- where the object went after the load
    ADD COLUMN moved_at      timestamptz;
CREATE INDEX extract_runs_object_key_idx ON dwh_control.extract_runs (object_key);
CREATE INDEX extract_runs_status_idx ON dwh_control.extract_runs (status, started_at);

-- Thresholds the warehouse falls back to when bronze.settings (the live copy) lacks a key.
CREATE TABLE dwh_control.settings (
    key         text PRIMARY KEY,
    value       numeric NOT NULL,
    description text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER settings_updated_at BEFORE UPDATE ON dwh_control.settings
    FOR EACH ROW EXECUTE FUNCTION dwh_control.set_updated_at();

INSERT INTO dwh_control.settings (key, value, description) VALUES
    ('moving_speed_kmh', 3, 'speed above which a fix with ACC on/unknown counts as moving'),
    ('offline_gap_s', 1800, 'gap between fixes that becomes an offline segment'),
    ('min_stop_s', 300, 'stationary spell that closes a trip / shortest stop kept'),
    ('min_idle_s', 300, 'shortest idle spell kept'),
    ('trip_gap_s', 300, 'gap between fixes that closes a trip'),
    ('min_trip_s', 60, 'shortest trip kept'),
    ('min_trip_max_speed_kmh', 6, 'a kept trip reaches this speed ...'),
    ('min_trip_km', 1, '... or this distance'),
    ('trip_finalise_after_s', 7200, 'a trip is final only when its last fix is this old'),
    ('overspeed_kmh', 80, 'fleet default speed limit'),
    ('max_jump_kmh', 250, 'fixes implying a faster jump are dropped'),
    ('future_tolerance_s', 86400, 'fixes further in the future than this are dropped'),
    ('odometer_ratio_low', 0.8, 'odometer / GPS distance below this is flagged'),
    ('odometer_ratio_high', 1.25, 'odometer / GPS distance above this is flagged'),
    ('fuel_l_per_100km', 10, 'consumption when the device has no fuel_100km'),
    ('idle_litres_per_hour', 0.8, 'fuel burnt per idle hour, for idle cost'),
    ('fuel_price_per_litre', 180, 'fuel price in local currency, for idle cost'),
    ('shift_hours', 9, 'working hours per day, for utilisation')
ON CONFLICT (key) DO NOTHING;

-- Per-vehicle overrides of any threshold (ALGORITHMS.md: every threshold overridable per vehicle).
CREATE TABLE dwh_control.vehicle_settings (
    imei       text NOT NULL,
    key        text NOT NULL,
    value      numeric NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, key)
);

CREATE VIEW dwh_control.v_table_freshness AS
SELECT w.table_name,
       w.watermark_column,
       w.watermark_value,
       last_ok.finished_at                      AS last_loaded_at,
       last_ok.rows_loaded                      AS last_rows_loaded,
       last_run.status                          AS last_run_status,
       last_run.started_at                      AS last_run_started_at,
       round(extract(epoch FROM now() - last_ok.finished_at)) AS seconds_since_load
FROM dwh_control.extract_watermarks w
LEFT JOIN LATERAL (
    SELECT r.finished_at, r.rows_loaded FROM dwh_control.extract_runs r
    WHERE r.table_name = w.table_name AND r.loaded_at IS NOT NULL
    ORDER BY r.loaded_at DESC LIMIT 1) last_ok ON true
LEFT JOIN LATERAL (
    SELECT r.status, r.started_at FROM dwh_control.extract_runs r
    WHERE r.table_name = w.table_name
    ORDER BY r.started_at DESC, r.id DESC LIMIT 1) last_run ON true;
COMMENT ON VIEW dwh_control.v_table_freshness IS
    'Per bronze table: watermark, last successful load and the status of the latest run';

CREATE VIEW dwh_control.v_recent_failures AS
SELECT r.id, r.run_id, r.table_name, r.status, r.watermark_from, r.watermark_to, r.rows_extracted,
       r.rows_loaded, r.object_key, r.error, r.started_at, r.finished_at
FROM dwh_control.extract_runs r
WHERE r.status = 'failed' AND r.started_at >= now() - interval '24 hours'
ORDER BY r.started_at DESC;
COMMENT ON VIEW dwh_control.v_recent_failures IS 'Bronze extract/load runs that failed in the last 24 hours';

CREATE VIEW dwh_control.v_watermark_lag AS
SELECT w.table_name,
       w.watermark_column,
       w.watermark_value,
       now() - w.watermark_value                         AS lag,
       round(extract(epoch FROM now() - w.watermark_value)) AS lag_seconds,
       w.updated_at
FROM dwh_control.extract_watermarks w;
COMMENT ON VIEW dwh_control.v_watermark_lag IS
    'How far each table''s watermark trails now (snapshot tables: time of the last snapshot)';
