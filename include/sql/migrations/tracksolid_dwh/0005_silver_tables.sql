-- Silver: cleaned fixes and state segments per device per local day (ALGORITHMS.md), with the trips, stops,
-- idle spells, geofence visits and position overspeed episodes derived from them. Every table is rebuilt
-- for a whole local day by silver.rebuild_day(day) (0006): delete + insert in one transaction.

-- Cleaned fixes (ALGORITHMS.md filters applied) with the state each point implies.
CREATE TABLE silver.fixes (
    imei        text NOT NULL,
    gps_time    timestamptz NOT NULL,
    local_day   date NOT NULL,
    lat         double precision NOT NULL,
    lng         double precision NOT NULL,
    speed_kmh   double precision,
    acc_status  boolean,
    gps_mode    smallint,
    odometer_km numeric,
    point_state text NOT NULL CHECK (point_state IN ('moving', 'idle', 'parked')),
    PRIMARY KEY (local_day, imei, gps_time)   -- day first: a rebuild deletes and rewrites one day
);

-- Contiguous, non-overlapping; per device per local day they sum to exactly 86 400 s.
CREATE TABLE silver.segments (
    imei          text NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz NOT NULL,
    local_day     date NOT NULL,
    state         text NOT NULL CHECK (state IN ('moving', 'idle', 'parked', 'offline')),
    duration_s    numeric NOT NULL,
    fix_count     integer NOT NULL,
    distance_km   double precision NOT NULL,
    max_speed_kmh double precision,
    start_lat     double precision,
    start_lng     double precision,
    end_lat       double precision,
    end_lng       double precision,
    PRIMARY KEY (imei, started_at),
    CHECK (ended_at > started_at)
);
CREATE INDEX silver_segments_local_day_idx ON silver.segments (local_day, imei);

CREATE TABLE silver.trips (
    imei          text NOT NULL,
    start_time    timestamptz NOT NULL,
    end_time      timestamptz NOT NULL,
    local_day     date NOT NULL,
    duration_s    numeric NOT NULL,
    distance_km   double precision NOT NULL,
    max_speed_kmh double precision,
    avg_speed_kmh double precision,
    fix_count     integer NOT NULL,
    start_lat     double precision,
    start_lng     double precision,
    end_lat       double precision,
    end_lng       double precision,
    PRIMARY KEY (imei, start_time)
);
CREATE INDEX silver_trips_local_day_idx ON silver.trips (local_day, imei);

CREATE TABLE silver.stops (
    imei       text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz NOT NULL,
    local_day  date NOT NULL,
    duration_s numeric NOT NULL,
    lat        double precision,
    lng        double precision,
    PRIMARY KEY (imei, started_at)
);
CREATE INDEX silver_stops_local_day_idx ON silver.stops (local_day);

CREATE TABLE silver.idle_spells (
    imei       text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz NOT NULL,
    local_day  date NOT NULL,
    duration_s numeric NOT NULL,
    lat        double precision,
    lng        double precision,
    PRIMARY KEY (imei, started_at)
);
CREATE INDEX silver_idle_spells_local_day_idx ON silver.idle_spells (local_day);

CREATE TABLE silver.geofence_visits (
    imei          text NOT NULL,
    geofence_id   integer NOT NULL,
    entered_at    timestamptz NOT NULL,
    exited_at     timestamptz NOT NULL,
    local_day     date NOT NULL,
    geofence_name text,
    geofence_kind text,
    dwell_s       numeric NOT NULL,
    segment_count integer NOT NULL,
    PRIMARY KEY (imei, geofence_id, entered_at)
);
CREATE INDEX silver_geofence_visits_local_day_idx ON silver.geofence_visits (local_day);

-- Overspeed from positions: >= 2 consecutive fixes over the vehicle's limit.
CREATE TABLE silver.overspeed_events (
    imei          text NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz NOT NULL,
    local_day     date NOT NULL,
    fix_count     integer NOT NULL,
    max_speed_kmh double precision NOT NULL,
    limit_kmh     numeric NOT NULL,
    PRIMARY KEY (imei, started_at)
);
CREATE INDEX silver_overspeed_events_local_day_idx ON silver.overspeed_events (local_day);

-- Per device per day: fix counts before/after cleaning and the odometer readings of the day.
CREATE TABLE silver.device_days (
    imei               text NOT NULL,
    local_day          date NOT NULL,
    fixes_raw          integer NOT NULL,
    fixes_kept         integer NOT NULL,
    odometer_start_km  numeric,
    odometer_end_km    numeric,
    odometer_monotonic boolean,
    PRIMARY KEY (local_day, imei)
);

-- When each local day was last built; a day is stale when bronze rows of it were loaded after built_at.
CREATE TABLE silver.day_builds (
    local_day   date PRIMARY KEY,
    built_at    timestamptz NOT NULL,
    devices     integer NOT NULL,
    fixes_kept  bigint NOT NULL,
    segments    integer NOT NULL,
    trips       integer NOT NULL,
    duration_ms integer NOT NULL
);

COMMENT ON TABLE silver.segments IS
    'State segments (moving/idle/parked/offline) per device per Africa/Nairobi day; sum to 86400 s';
COMMENT ON TABLE silver.trips IS 'Trips derived from cleaned fixes (ALGORITHMS.md), by local day of start';
