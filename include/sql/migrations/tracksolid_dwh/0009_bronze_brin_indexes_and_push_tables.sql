-- 1. bronze.position_history: BRIN instead of btree for the two range lookups (issue 6 benchmark).
--    Loads append in arrival order, so the heap is ordered by _loaded_at exactly (every load's rows share one
--    value, loads run one at a time) and by gps_time nearly (fixes arrive minutes after they are taken; a late
--    fix only widens the summary of the block range it lands in). A BRIN index costs almost nothing per row,
--    where each btree cost ~0.5 s and ~65 MB of WAL per million loaded rows.
--    Silver's day read (gps_time range) and stale_days (_loaded_at > since) become bitmap scans of the
--    matching block ranges. autosummarize: autovacuum summarises each block range once it is full; ranges not
--    summarised yet (the newest rows) are always scanned, so results stay exact.
--    The primary key (imei, gps_time) stays: it is the load's conflict target and keeps bronze duplicate-free.
DROP INDEX bronze.bronze_position_history_gps_time_idx;
DROP INDEX bronze.bronze_position_history_loaded_at_idx;
CREATE INDEX bronze_position_history_gps_time_brin ON bronze.position_history
    USING brin (gps_time) WITH (autosummarize = on);
CREATE INDEX bronze_position_history_loaded_at_brin ON bronze.position_history
    USING brin (_loaded_at) WITH (autosummarize = on);

-- 2. The push receiver's tables (tracksolid_db 0030) in bronze: incremental by arrival (ingested_at), upserted
--    on the live key like the others (fleet_dwh.tables). Same columns as live; NOT NULL only on the key, no
--    defaults or checks on source columns (every value comes from the extract file as it was in tracksolid_db);
--    plus the load bookkeeping columns with the defaults of 0008.
CREATE TABLE bronze.fault_codes (
    imei         text NOT NULL,
    fault_time   timestamptz NOT NULL,
    fault_code   text NOT NULL,
    fault_detail text,
    device_name  text,
    source       text,
    raw          jsonb,
    ingested_at  timestamptz,
    _run_id      text NOT NULL,
    _loaded_at   timestamptz NOT NULL,
    PRIMARY KEY (imei, fault_time, fault_code)
);

CREATE TABLE bronze.lbs_readings (
    imei         text NOT NULL,
    reading_time timestamptz NOT NULL,
    post_type    text,
    lbs          jsonb,
    raw          jsonb,
    ingested_at  timestamptz,
    _run_id      text NOT NULL,
    _loaded_at   timestamptz NOT NULL,
    PRIMARY KEY (imei, reading_time)
);

CREATE TABLE bronze.push_trip_reports (
    imei          text NOT NULL,
    start_time    timestamptz NOT NULL,
    end_time      timestamptz,
    start_lat     double precision,
    start_lng     double precision,
    end_lat       double precision,
    end_lng       double precision,
    distance_km   numeric,
    avg_speed_kmh numeric,
    max_speed_kmh numeric,
    run_time_s    integer,
    fuel_l        numeric,
    raw           jsonb,
    ingested_at   timestamptz,
    _run_id       text NOT NULL,
    _loaded_at    timestamptz NOT NULL,
    PRIMARY KEY (imei, start_time)
);

CREATE TABLE bronze.device_attribute_reports (
    imei        text NOT NULL,
    attribute   text NOT NULL,
    reported_at timestamptz NOT NULL,
    value       text,
    raw         jsonb,
    ingested_at timestamptz,
    _run_id     text NOT NULL,
    _loaded_at  timestamptz NOT NULL,
    PRIMARY KEY (imei, attribute, reported_at)
);

-- The bookkeeping defaults of 0008 (set_config of the load transaction; unset elsewhere → NOT NULL fails).
DO $$
DECLARE
    t regclass;
BEGIN
    FOREACH t IN ARRAY ARRAY['bronze.fault_codes', 'bronze.lbs_readings', 'bronze.push_trip_reports',
                             'bronze.device_attribute_reports']::regclass[]
    LOOP
        EXECUTE format(
            'ALTER TABLE %s ALTER COLUMN _run_id SET DEFAULT nullif(current_setting(''fleet_dwh.load_run_id'', true), ''''), '
            'ALTER COLUMN _loaded_at SET DEFAULT '
            'nullif(current_setting(''fleet_dwh.load_loaded_at'', true), '''')::timestamptz', t);
    END LOOP;
END;
$$;

COMMENT ON TABLE bronze.fault_codes IS 'Bronze copy of tracksolid.fault_codes (push /pushfaultinfo)';
COMMENT ON TABLE bronze.lbs_readings IS 'Bronze copy of tracksolid.lbs_readings (push /pushlbs)';
COMMENT ON TABLE bronze.push_trip_reports IS 'Bronze copy of tracksolid.push_trip_reports (push /pushtripreport)';
COMMENT ON TABLE bronze.device_attribute_reports IS
    'Bronze copy of tracksolid.device_attribute_reports (ICCID / VIN from /pushalarm)';
