-- Bronze: one table per live data table (SPEC §3), same columns and keys, plus the load bookkeeping
-- columns `_run_id` (extract_runs.run_id of the load that last wrote the row) and `_loaded_at`.
-- No defaults on source columns: every value comes from the extract file as it was in tracksolid_db.
-- Two reference tables (settings, geofences) are copied too: silver reads thresholds and polygons from them.

CREATE TABLE bronze.devices (
    imei               text PRIMARY KEY,
    account            text,
    customer_name      text,
    device_name        text,
    mc_type            text,
    mc_type_use_scope  text,
    sim                text,
    iccid              text,
    imsi               text,
    expiration         timestamptz,
    activation_time    timestamptz,
    import_time        timestamptz,
    remark             text,
    vehicle_name       text,
    vehicle_icon       text,
    vehicle_number     text,
    vehicle_models     text,
    vehicle_brand      text,
    license_plate_no   text,
    car_frame          text,
    vin                text,
    engine_number      text,
    driver_name        text,
    driver_phone       text,
    device_group_id    text,
    device_group       text,
    enabled_flag       integer,
    status             text,
    fuel_100km         numeric,
    current_mileage_km numeric,
    assigned_city      text,
    is_active          boolean,
    is_registered      boolean,
    first_seen_at      timestamptz,
    last_synced_at     timestamptz,
    raw                jsonb,
    ingested_at        timestamptz,
    created_at         timestamptz,
    updated_at         timestamptz,
    _run_id            text NOT NULL,
    _loaded_at         timestamptz NOT NULL
);

CREATE TABLE bronze.live_positions (
    imei               text PRIMARY KEY,
    gps_time           timestamptz NOT NULL,
    hb_time            timestamptz,
    lat                double precision,
    lng                double precision,
    geom               geometry(Point, 4326),
    speed_kmh          numeric,
    direction          integer,
    acc_status         boolean,
    online             boolean,
    pos_type           text,
    gps_num            integer,
    gps_signal         integer,
    elect_quantity     numeric,
    power_value        numeric,
    battery_power_val  numeric,
    current_mileage_km numeric,
    temperature        numeric,
    tracker_oil        numeric,
    loc_desc           text,
    source             text,
    raw                jsonb,
    ingested_at        timestamptz,
    updated_at         timestamptz,
    _run_id            text NOT NULL,
    _loaded_at         timestamptz NOT NULL
);

CREATE TABLE bronze.position_history (
    imei        text NOT NULL,
    gps_time    timestamptz NOT NULL,
    lat         double precision NOT NULL,
    lng         double precision NOT NULL,
    geom        geometry(Point, 4326),
    speed_kmh   numeric,
    direction   integer,
    acc_status  boolean,
    pos_type    text,
    satellite   integer,
    gps_mode    smallint,
    odometer_km numeric,
    altitude    numeric,
    source      text,
    raw         jsonb,
    ingested_at timestamptz,
    _run_id     text NOT NULL,
    _loaded_at  timestamptz NOT NULL,
    PRIMARY KEY (imei, gps_time)
);
-- Silver reads one local day of every device at once, and finds days that received late rows.
CREATE INDEX bronze_position_history_gps_time_idx ON bronze.position_history (gps_time);
CREATE INDEX bronze_position_history_loaded_at_idx ON bronze.position_history (_loaded_at);

CREATE TABLE bronze.trips (
    imei          text NOT NULL,
    start_time    timestamptz NOT NULL,
    end_time      timestamptz,
    start_lat     double precision,
    start_lng     double precision,
    end_lat       double precision,
    end_lng       double precision,
    start_geom    geometry(Point, 4326),
    end_geom      geometry(Point, 4326),
    distance_km   numeric,
    avg_speed_kmh numeric,
    run_time_s    integer,
    source        text,
    raw           jsonb,
    ingested_at   timestamptz,
    updated_at    timestamptz,
    _run_id       text NOT NULL,
    _loaded_at    timestamptz NOT NULL,
    PRIMARY KEY (imei, start_time)
);

CREATE TABLE bronze.parking_events (
    imei        text NOT NULL,
    start_time  timestamptz NOT NULL,
    acc_type    text NOT NULL,
    end_time    timestamptz,
    duration_s  integer,
    stop_s      integer,
    lat         double precision,
    lng         double precision,
    geom        geometry(Point, 4326),
    address     text,
    device_name text,
    raw         jsonb,
    ingested_at timestamptz,
    updated_at  timestamptz,
    _run_id     text NOT NULL,
    _loaded_at  timestamptz NOT NULL,
    PRIMARY KEY (imei, start_time, acc_type)
);

CREATE TABLE bronze.alarms (
    imei             text NOT NULL,
    alarm_type       text NOT NULL,
    alarm_time       timestamptz NOT NULL,
    alarm_name       text,
    device_name      text,
    positioning_time timestamptz,
    lat              double precision,
    lng              double precision,
    geom             geometry(Point, 4326),
    speed_kmh        numeric,
    geoid            text,
    source           text,
    raw              jsonb,
    ingested_at      timestamptz,
    updated_at       timestamptz,
    _run_id          text NOT NULL,
    _loaded_at       timestamptz NOT NULL,
    PRIMARY KEY (imei, alarm_type, alarm_time)
);
CREATE INDEX bronze_alarms_alarm_time_idx ON bronze.alarms (alarm_time);
CREATE INDEX bronze_alarms_loaded_at_idx ON bronze.alarms (_loaded_at);

CREATE TABLE bronze.obd_readings (
    imei           text NOT NULL,
    reading_time   timestamptz NOT NULL,
    odometer_km    numeric,
    fuel_l         numeric,
    fuel_pct       numeric,
    rpm            numeric,
    coolant_temp_c numeric,
    battery_v      numeric,
    speed_kmh      numeric,
    vin            text,
    source         text,
    raw            jsonb,
    ingested_at    timestamptz,
    updated_at     timestamptz,
    _run_id        text NOT NULL,
    _loaded_at     timestamptz NOT NULL,
    PRIMARY KEY (imei, reading_time)
);

CREATE TABLE bronze.device_events (
    imei        text NOT NULL,
    event_time  timestamptz NOT NULL,
    event_type  text NOT NULL,
    source      text,
    raw         jsonb,
    ingested_at timestamptz,
    _run_id     text NOT NULL,
    _loaded_at  timestamptz NOT NULL,
    PRIMARY KEY (imei, event_time, event_type)
);

CREATE TABLE bronze.heartbeats (
    imei        text NOT NULL,
    hb_time     timestamptz NOT NULL,
    power_level integer,
    gsm_signal  integer,
    acc_status  boolean,
    oil_ele     numeric,
    gps_pos     text,
    raw         jsonb,
    ingested_at timestamptz,
    _run_id     text NOT NULL,
    _loaded_at  timestamptz NOT NULL,
    PRIMARY KEY (imei, hb_time)
);

CREATE TABLE bronze.fuel_readings (
    imei         text NOT NULL,
    reading_time timestamptz NOT NULL,
    fuel_value   numeric,
    fuel_unit    text,
    raw          jsonb,
    ingested_at  timestamptz,
    _run_id      text NOT NULL,
    _loaded_at   timestamptz NOT NULL,
    PRIMARY KEY (imei, reading_time)
);

CREATE TABLE bronze.temperature_readings (
    imei          text NOT NULL,
    reading_time  timestamptz NOT NULL,
    temperature_c numeric,
    humidity_pct  numeric,
    raw           jsonb,
    ingested_at   timestamptz,
    _run_id       text NOT NULL,
    _loaded_at    timestamptz NOT NULL,
    PRIMARY KEY (imei, reading_time)
);

CREATE TABLE bronze.ingestion_log (
    id          bigint PRIMARY KEY,
    logged_at   timestamptz,
    dag_id      text,
    run_id      text,
    task_id     text,
    map_index   integer,
    method      text,
    target      text,
    imei_count  integer,
    attempt     integer,
    http_status integer,
    api_code    text,
    row_count   integer,
    duration_ms integer,
    error       text,
    _run_id     text NOT NULL,
    _loaded_at  timestamptz NOT NULL
);

CREATE TABLE bronze.dispatch_log (
    id            bigint PRIMARY KEY,
    ticket_ref    text,
    imei          text,
    dispatched_at timestamptz,
    arrived_at    timestamptz,
    completed_at  timestamptz,
    status        text,
    created_at    timestamptz,
    updated_at    timestamptz,
    _run_id       text NOT NULL,
    _loaded_at    timestamptz NOT NULL
);

CREATE TABLE bronze.ops_tickets (
    id          bigint PRIMARY KEY,
    ticket_ref  text,
    customer    text,
    city        text,
    lat         double precision,
    lng         double precision,
    geom        geometry(Point, 4326),
    opened_at   timestamptz,
    sla_minutes integer,
    closed_at   timestamptz,
    status      text,
    created_at  timestamptz,
    updated_at  timestamptz,
    _run_id     text NOT NULL,
    _loaded_at  timestamptz NOT NULL
);

CREATE TABLE bronze.ops_service_log (
    id           bigint PRIMARY KEY,
    imei         text,
    service_date date,
    odometer_km  numeric,
    description  text,
    cost         numeric,
    created_at   timestamptz,
    updated_at   timestamptz,
    _run_id      text NOT NULL,
    _loaded_at   timestamptz NOT NULL
);

CREATE TABLE bronze.ops_odometer_readings (
    id           bigint PRIMARY KEY,
    imei         text,
    reading_time timestamptz,
    odometer_km  numeric,
    captured_by  text,
    created_at   timestamptz,
    updated_at   timestamptz,
    _run_id      text NOT NULL,
    _loaded_at   timestamptz NOT NULL
);

-- Reference tables (snapshots): thresholds and geofence polygons used by silver.
CREATE TABLE bronze.settings (
    key         text PRIMARY KEY,
    value       numeric,
    description text,
    updated_at  timestamptz,
    _run_id     text NOT NULL,
    _loaded_at  timestamptz NOT NULL
);

CREATE TABLE bronze.geofences (
    id         integer PRIMARY KEY,
    name       text,
    kind       text,
    city       text,
    geom       geometry(MultiPolygon, 4326),
    created_at timestamptz,
    updated_at timestamptz,
    _run_id    text NOT NULL,
    _loaded_at timestamptz NOT NULL
);
CREATE INDEX bronze_geofences_geom_gix ON bronze.geofences USING gist (geom);

COMMENT ON TABLE bronze.position_history IS 'Copy of tracksolid.position_history, incremental on ingested_at';
COMMENT ON TABLE bronze.devices IS 'Snapshot of tracksolid.devices, replaced whole on every load';
