-- Live tables of SPEC §3. Keys are decisions; columns follow TRACKSOLID_API.md field names in snake_case.
-- Every time is timestamptz (UTC on the wire). Every incremental table carries `ingested_at`
-- (arrival order, used by the warehouse watermark so late rows are caught) and keeps the raw item JSON.

-- Devices: every field of jimi.user.device.list + jimi.track.device.detail.
CREATE TABLE tracksolid.devices (
    imei               text PRIMARY KEY,
    account            text,           -- account target the device belongs to
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
    assigned_city      text,           -- kept by us, never overwritten by the API
    is_active          boolean NOT NULL DEFAULT true,
    is_registered      boolean NOT NULL DEFAULT true,  -- false: first seen in a push, not (yet) in device.list
    first_seen_at      timestamptz NOT NULL DEFAULT now(),
    last_synced_at     timestamptz,
    raw                jsonb,
    ingested_at        timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_account_idx ON tracksolid.devices (account);
CREATE TRIGGER devices_updated_at BEFORE UPDATE ON tracksolid.devices
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

-- Current fix per device; replaced only by a newer gps_time.
CREATE TABLE tracksolid.live_positions (
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
    source             text NOT NULL DEFAULT 'poll' CHECK (source IN ('poll', 'track_list', 'push')),
    raw                jsonb,
    ingested_at        timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX live_positions_geom_gix ON tracksolid.live_positions USING gist (geom);
CREATE TRIGGER live_positions_updated_at BEFORE UPDATE ON tracksolid.live_positions
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

-- Every fix ever seen (hypertable on gps_time when TimescaleDB exists, see 0003).
CREATE TABLE tracksolid.position_history (
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
    gps_mode    smallint,          -- 0 live, 1 re-uploaded (late)
    odometer_km numeric,           -- push `distance` (metres) / 1000, when sent
    altitude    numeric,
    source      text NOT NULL CHECK (source IN ('poll', 'track_list', 'push')),
    raw         jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, gps_time)
);
CREATE INDEX position_history_geom_gix ON tracksolid.position_history USING gist (geom);
CREATE INDEX position_history_ingested_at_idx ON tracksolid.position_history (ingested_at);

-- Trips from jimi.device.track.mileage (distance in km = API metres / 1000).
CREATE TABLE tracksolid.trips (
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
    source        text NOT NULL DEFAULT 'poll' CHECK (source IN ('poll', 'push')),
    raw           jsonb,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, start_time)
);
CREATE INDEX trips_start_geom_gix ON tracksolid.trips USING gist (start_geom);
CREATE INDEX trips_end_geom_gix ON tracksolid.trips USING gist (end_geom);
CREATE INDEX trips_ingested_at_idx ON tracksolid.trips (ingested_at);
CREATE TRIGGER trips_updated_at BEFORE UPDATE ON tracksolid.trips
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

-- Parking (acc_type off) and idling (acc_type on) from jimi.open.platform.report.parking.
CREATE TABLE tracksolid.parking_events (
    imei        text NOT NULL,
    start_time  timestamptz NOT NULL,
    acc_type    text NOT NULL CHECK (acc_type IN ('off', 'on')),
    end_time    timestamptz,
    duration_s  integer,            -- durSecond
    stop_s      integer,            -- stopSecond
    lat         double precision,
    lng         double precision,
    geom        geometry(Point, 4326),
    address     text,
    device_name text,
    raw         jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, start_time, acc_type)
);
CREATE INDEX parking_events_geom_gix ON tracksolid.parking_events USING gist (geom);
CREATE INDEX parking_events_ingested_at_idx ON tracksolid.parking_events (ingested_at);
CREATE TRIGGER parking_events_updated_at BEFORE UPDATE ON tracksolid.parking_events
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

-- Alarms from jimi.device.alarm.list (poll) and push.
CREATE TABLE tracksolid.alarms (
    imei             text NOT NULL,
    alarm_type       text NOT NULL,   -- poll alertTypeId / push alarmType
    alarm_time       timestamptz NOT NULL,
    alarm_name       text,            -- poll alarmTypeName / push alarmName
    device_name      text,
    positioning_time timestamptz,
    lat              double precision,
    lng              double precision,
    geom             geometry(Point, 4326),
    speed_kmh        numeric,
    geoid            text,
    source           text NOT NULL CHECK (source IN ('poll', 'push')),
    raw              jsonb,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, alarm_type, alarm_time)
);
CREATE INDEX alarms_geom_gix ON tracksolid.alarms USING gist (geom);
CREATE INDEX alarms_alarm_time_idx ON tracksolid.alarms (alarm_time);
CREATE INDEX alarms_ingested_at_idx ON tracksolid.alarms (ingested_at);
CREATE TRIGGER alarms_updated_at BEFORE UPDATE ON tracksolid.alarms
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

-- OBD readings from jimi.device.obd.list and /pushobd.
CREATE TABLE tracksolid.obd_readings (
    imei           text NOT NULL,
    reading_time   timestamptz NOT NULL,
    odometer_km    numeric,
    fuel_l         numeric,        -- remainingFuel
    fuel_pct       numeric,        -- remainingFuelPercentage
    rpm            numeric,
    coolant_temp_c numeric,
    battery_v      numeric,
    speed_kmh      numeric,
    vin            text,
    source         text NOT NULL DEFAULT 'poll' CHECK (source IN ('poll', 'push')),
    raw            jsonb,
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, reading_time)
);
CREATE INDEX obd_readings_ingested_at_idx ON tracksolid.obd_readings (ingested_at);
CREATE TRIGGER obd_readings_updated_at BEFORE UPDATE ON tracksolid.obd_readings
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

-- Login/logout, power on/off, tamper events (push).
CREATE TABLE tracksolid.device_events (
    imei        text NOT NULL,
    event_time  timestamptz NOT NULL,
    event_type  text NOT NULL,
    source      text NOT NULL DEFAULT 'push',
    raw         jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, event_time, event_type)
);
CREATE INDEX device_events_ingested_at_idx ON tracksolid.device_events (ingested_at);

-- Push-only time series (hypertables when TimescaleDB exists).
CREATE TABLE tracksolid.heartbeats (
    imei        text NOT NULL,
    hb_time     timestamptz NOT NULL,
    power_level integer,
    gsm_signal  integer,
    acc_status  boolean,
    oil_ele     numeric,
    gps_pos     text,
    raw         jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, hb_time)
);
CREATE INDEX heartbeats_ingested_at_idx ON tracksolid.heartbeats (ingested_at);

CREATE TABLE tracksolid.fuel_readings (
    imei         text NOT NULL,
    reading_time timestamptz NOT NULL,
    fuel_value   numeric,
    fuel_unit    text,
    raw          jsonb,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, reading_time)
);
CREATE INDEX fuel_readings_ingested_at_idx ON tracksolid.fuel_readings (ingested_at);

CREATE TABLE tracksolid.temperature_readings (
    imei          text NOT NULL,
    reading_time  timestamptz NOT NULL,
    temperature_c numeric,
    humidity_pct  numeric,
    raw           jsonb,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, reading_time)
);
CREATE INDEX temperature_readings_ingested_at_idx ON tracksolid.temperature_readings (ingested_at);

-- Every push request, raw; replays recognised by payload hash.
CREATE TABLE tracksolid.push_inbox (
    id             bigserial PRIMARY KEY,
    received_at    timestamptz NOT NULL DEFAULT now(),
    path           text NOT NULL,
    push_format    text NOT NULL CHECK (push_format IN ('iothub', 'pro')),
    msg_type       text,
    payload_sha256 text NOT NULL UNIQUE,
    payload        jsonb NOT NULL,
    item_count     integer NOT NULL DEFAULT 0,
    status         text NOT NULL DEFAULT 'stored',
    error          text,
    processed_at   timestamptz
);
CREATE INDEX push_inbox_received_at_idx ON tracksolid.push_inbox (received_at);

-- One token per (app_key, account), shared by every worker.
CREATE TABLE tracksolid.api_token_cache (
    app_key       text NOT NULL,
    account       text NOT NULL,
    access_token  text NOT NULL,
    refresh_token text,
    issued_at     timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_key, account)
);
CREATE TRIGGER api_token_cache_updated_at BEFORE UPDATE ON tracksolid.api_token_cache
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

-- One row per API call attempt. Never a secret, token or password.
CREATE TABLE tracksolid.ingestion_log (
    id          bigserial PRIMARY KEY,
    logged_at   timestamptz NOT NULL DEFAULT now(),
    dag_id      text,
    run_id      text,
    task_id     text,
    map_index   integer,
    method      text NOT NULL,
    target      text,
    imei_count  integer,
    attempt     integer NOT NULL DEFAULT 1,
    http_status integer,
    api_code    text,
    row_count   integer,
    duration_ms integer,
    error       text
);
CREATE INDEX ingestion_log_logged_at_idx ON tracksolid.ingestion_log (logged_at);
CREATE INDEX ingestion_log_method_idx ON tracksolid.ingestion_log (method, logged_at);

-- Depots, city zones, customer sites.
CREATE TABLE tracksolid.geofences (
    id         serial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('depot', 'city_zone', 'customer_site')),
    city       text,
    geom       geometry(MultiPolygon, 4326) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX geofences_geom_gix ON tracksolid.geofences USING gist (geom);
CREATE TRIGGER geofences_updated_at BEFORE UPDATE ON tracksolid.geofences
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

-- Dispatch decisions, for SLA compliance.
CREATE TABLE tracksolid.dispatch_log (
    id            bigserial PRIMARY KEY,
    ticket_ref    text NOT NULL,
    imei          text,
    dispatched_at timestamptz NOT NULL,
    arrived_at    timestamptz,
    completed_at  timestamptz,
    status        text NOT NULL DEFAULT 'dispatched',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_log_updated_at_idx ON tracksolid.dispatch_log (updated_at);
CREATE TRIGGER dispatch_log_updated_at BEFORE UPDATE ON tracksolid.dispatch_log
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

-- Thresholds read by views and alerts: one table, not view bodies (SPEC §7, ALGORITHMS.md defaults).
CREATE TABLE tracksolid.settings (
    key         text PRIMARY KEY,
    value       numeric NOT NULL,
    description text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER settings_updated_at BEFORE UPDATE ON tracksolid.settings
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

-- ops: tickets, workshop history, manual odometer captures.
CREATE TABLE ops.tickets (
    id          bigserial PRIMARY KEY,
    ticket_ref  text NOT NULL UNIQUE,
    customer    text,
    city        text,
    lat         double precision,
    lng         double precision,
    geom        geometry(Point, 4326),
    opened_at   timestamptz NOT NULL,
    sla_minutes integer NOT NULL,
    closed_at   timestamptz,
    status      text NOT NULL DEFAULT 'open',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_geom_gix ON ops.tickets USING gist (geom);
CREATE TRIGGER tickets_updated_at BEFORE UPDATE ON ops.tickets
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

CREATE TABLE ops.service_log (
    id           bigserial PRIMARY KEY,
    imei         text NOT NULL,
    service_date date NOT NULL,
    odometer_km  numeric,
    description  text,
    cost         numeric,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER service_log_updated_at BEFORE UPDATE ON ops.service_log
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();

CREATE TABLE ops.odometer_readings (
    id           bigserial PRIMARY KEY,
    imei         text NOT NULL,
    reading_time timestamptz NOT NULL,
    odometer_km  numeric NOT NULL,
    captured_by  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (imei, reading_time)
);
CREATE TRIGGER odometer_readings_updated_at BEFORE UPDATE ON ops.odometer_readings
    FOR EACH ROW EXECUTE FUNCTION tracksolid.set_updated_at();
