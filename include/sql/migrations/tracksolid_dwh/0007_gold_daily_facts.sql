-- Gold: vehicle x local day fleet metrics (SPEC §3) and driver x local day behaviour (ALGORITHMS.md),
-- refreshed for one day by gold.refresh_daily_metrics(day) from silver (rebuild that day first), bronze
-- alarms and the bronze device master.

-- Alarm classes used by the behaviour index and the alarm counts (TRACKSOLID_API.md §8).
CREATE TABLE gold.alarm_classes (
    alarm_type  text PRIMARY KEY,
    alarm_class text NOT NULL,
    aggressive  boolean NOT NULL DEFAULT false   -- counts toward the aggression index
);
INSERT INTO gold.alarm_classes (alarm_type, alarm_class, aggressive) VALUES
    ('41', 'harsh_acceleration', true), ('144', 'harsh_acceleration', true),
    ('48', 'harsh_braking', true), ('145', 'harsh_braking', true),
    ('42', 'sharp_turn', true), ('43', 'sharp_turn', true), ('76', 'sharp_turn', true), ('146', 'sharp_turn', true),
    ('6', 'overspeed', true), ('135', 'overspeed', true), ('overSpeed', 'overspeed', true),
    ('1', 'sos', false),
    ('2', 'power', false), ('14', 'power', false), ('17', 'power', false), ('40', 'power', false),
    ('19', 'tamper', false),
    ('44', 'collision', false), ('55', 'collision', false), ('45', 'collision', false),
    ('71', 'fatigue', false), ('DMSAlert', 'fatigue', false),
    ('4', 'geofence', false), ('5', 'geofence', false), ('in', 'geofence', false), ('out', 'geofence', false)
ON CONFLICT (alarm_type) DO NOTHING;

CREATE TABLE gold.fact_daily_fleet_metrics (
    local_day                 date NOT NULL,
    imei                      text NOT NULL,
    device_name               text,
    license_plate_no          text,
    driver_name               text,
    city                      text,
    account                   text,
    km                        double precision NOT NULL,  -- odometer delta when trustworthy, else gps_km
    distance_source           text NOT NULL CHECK (distance_source IN ('odometer', 'gps')),
    gps_km                    double precision NOT NULL,  -- haversine over filtered fixes, never across gaps
    odometer_km               numeric,                    -- last - first odometer reading of the day
    odometer_gps_ratio        double precision,
    distance_flag             boolean NOT NULL,           -- ratio outside odometer_ratio_low..high
    driving_s                 numeric NOT NULL,
    idle_s                    numeric NOT NULL,
    parked_s                  numeric NOT NULL,
    offline_s                 numeric NOT NULL,
    trips                     integer NOT NULL,
    first_movement_at         timestamptz,
    last_movement_at          timestamptz,
    alarms_total              integer NOT NULL,
    alarms_harsh_acceleration integer NOT NULL,
    alarms_harsh_braking      integer NOT NULL,
    alarms_sharp_turn         integer NOT NULL,
    alarms_overspeed          integer NOT NULL,
    alarms_sos                integer NOT NULL,
    alarms_power              integer NOT NULL,
    alarms_tamper             integer NOT NULL,
    alarms_collision          integer NOT NULL,
    alarms_fatigue            integer NOT NULL,
    alarms_geofence           integer NOT NULL,
    alarms_other              integer NOT NULL,
    overspeed_position_events integer NOT NULL,
    aggression_events         integer NOT NULL,
    aggression_index          double precision,           -- aggression events per 100 km (NULL under 1 km)
    utilisation_pct           double precision NOT NULL,  -- driving time / shift_hours
    fuel_estimate_l           double precision NOT NULL,
    idle_fuel_l               double precision NOT NULL,
    idle_cost                 double precision NOT NULL,
    refreshed_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (local_day, imei)
);
COMMENT ON TABLE gold.fact_daily_fleet_metrics IS
    'Vehicle x Africa/Nairobi day: km, state seconds, trips, movement, alarms by class, behaviour, fuel';

CREATE TABLE gold.fact_driver_daily_behaviour (
    local_day                 date NOT NULL,
    driver_key                text NOT NULL,   -- driver name, or 'vehicle:<imei>' when none is assigned
    driver_name               text,
    vehicles                  integer NOT NULL,
    km                        double precision NOT NULL,
    driving_s                 numeric NOT NULL,
    harsh_acceleration        integer NOT NULL,
    harsh_braking             integer NOT NULL,
    sharp_turn                integer NOT NULL,
    overspeed                 integer NOT NULL,
    aggression_events         integer NOT NULL,
    aggression_index          double precision,
    refreshed_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (local_day, driver_key)
);
COMMENT ON TABLE gold.fact_driver_daily_behaviour IS
    'Driver x day: behaviour events and aggression index (events per 100 km) from alarms and positions';

CREATE OR REPLACE FUNCTION gold.refresh_daily_metrics(p_day date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day_start timestamptz;
    day_end   timestamptz;
    n_rows    integer;
BEGIN
    IF p_day IS NULL THEN
        RAISE EXCEPTION 'gold.refresh_daily_metrics: day must not be NULL';
    END IF;
    SELECT b.day_start, b.day_end INTO day_start, day_end FROM silver.local_day_bounds(p_day) b;
    PERFORM pg_advisory_xact_lock(hashtext('fleet.dwh.gold_day'), p_day - date '2000-01-01');

    DELETE FROM gold.fact_daily_fleet_metrics WHERE local_day = p_day;
    DELETE FROM gold.fact_driver_daily_behaviour WHERE local_day = p_day;

    WITH seg AS (
        SELECT imei,
               sum(duration_s) FILTER (WHERE state = 'moving')  AS driving_s,
               sum(duration_s) FILTER (WHERE state = 'idle')    AS idle_s,
               sum(duration_s) FILTER (WHERE state = 'parked')  AS parked_s,
               sum(duration_s) FILTER (WHERE state = 'offline') AS offline_s,
               sum(distance_km)                                 AS gps_km,
               min(started_at) FILTER (WHERE state = 'moving')  AS first_movement_at,
               max(ended_at) FILTER (WHERE state = 'moving')    AS last_movement_at
        FROM silver.segments WHERE local_day = p_day GROUP BY imei),
    trips AS (
        SELECT imei, count(*) AS trips FROM silver.trips WHERE local_day = p_day GROUP BY imei),
    overspeed AS (
        SELECT imei, count(*) AS events FROM silver.overspeed_events WHERE local_day = p_day GROUP BY imei),
    alarms AS (
        SELECT a.imei,
               count(*) AS total,
               count(*) FILTER (WHERE c.alarm_class = 'harsh_acceleration') AS harsh_acceleration,
               count(*) FILTER (WHERE c.alarm_class = 'harsh_braking')      AS harsh_braking,
               count(*) FILTER (WHERE c.alarm_class = 'sharp_turn')         AS sharp_turn,
               count(*) FILTER (WHERE c.alarm_class = 'overspeed')          AS overspeed,
               count(*) FILTER (WHERE c.alarm_class = 'sos')                AS sos,
               count(*) FILTER (WHERE c.alarm_class = 'power')              AS power,
               count(*) FILTER (WHERE c.alarm_class = 'tamper')             AS tamper,
               count(*) FILTER (WHERE c.alarm_class = 'collision')          AS collision,
               count(*) FILTER (WHERE c.alarm_class = 'fatigue')            AS fatigue,
               count(*) FILTER (WHERE c.alarm_class = 'geofence')           AS geofence,
               count(*) FILTER (WHERE c.alarm_class IS NULL)                AS other
        FROM bronze.alarms a LEFT JOIN gold.alarm_classes c USING (alarm_type)
        WHERE a.alarm_time >= day_start AND a.alarm_time < day_end
        GROUP BY a.imei),
    base AS (
        SELECT s.imei, dd.odometer_start_km, dd.odometer_end_km, dd.odometer_monotonic,
               dev.device_name, dev.license_plate_no, dev.driver_name, dev.assigned_city, dev.account,
               coalesce(dev.fuel_100km, silver.setting('fuel_l_per_100km', s.imei))::float8 AS fuel_100km,
               silver.setting('idle_litres_per_hour', s.imei)::float8  AS idle_lph,
               silver.setting('fuel_price_per_litre', s.imei)::float8  AS fuel_price,
               silver.setting('shift_hours', s.imei)::float8           AS shift_hours,
               silver.setting('odometer_ratio_low', s.imei)::float8    AS ratio_low,
               silver.setting('odometer_ratio_high', s.imei)::float8   AS ratio_high,
               coalesce(s.driving_s, 0) AS driving_s, coalesce(s.idle_s, 0) AS idle_s,
               coalesce(s.parked_s, 0) AS parked_s, coalesce(s.offline_s, 0) AS offline_s,
               coalesce(s.gps_km, 0) AS gps_km, s.first_movement_at, s.last_movement_at,
               coalesce(t.trips, 0) AS trips, coalesce(o.events, 0) AS overspeed_position_events,
               a.total, a.harsh_acceleration, a.harsh_braking, a.sharp_turn, a.overspeed, a.sos, a.power,
               a.tamper, a.collision, a.fatigue, a.geofence, a.other
        FROM seg s
        LEFT JOIN silver.device_days dd ON dd.local_day = p_day AND dd.imei = s.imei
        LEFT JOIN bronze.devices dev ON dev.imei = s.imei
        LEFT JOIN trips t ON t.imei = s.imei
        LEFT JOIN overspeed o ON o.imei = s.imei
        LEFT JOIN alarms a ON a.imei = s.imei),
    dist AS (
        SELECT b.*,
               b.odometer_end_km - b.odometer_start_km AS odo_km,
               -- ALGORITHMS.md: prefer the odometer delta when monotonic and non-zero.
               (b.odometer_monotonic AND b.odometer_end_km > b.odometer_start_km) AS odo_ok
        FROM base b),
    metrics AS (
        SELECT d.*,
               CASE WHEN d.odo_ok THEN d.odo_km::float8 ELSE d.gps_km END AS km,
               CASE WHEN d.odo_ok AND d.gps_km > 0 THEN d.odo_km::float8 / d.gps_km END AS ratio,
               coalesce(d.harsh_acceleration, 0) + coalesce(d.harsh_braking, 0) + coalesce(d.sharp_turn, 0)
                   -- one overspeed episode may raise an alarm and show in positions: count the larger
                   + greatest(coalesce(d.overspeed, 0), d.overspeed_position_events) AS aggression_events
        FROM dist d)
    INSERT INTO gold.fact_daily_fleet_metrics (
        local_day, imei, device_name, license_plate_no, driver_name, city, account,
        km, distance_source, gps_km, odometer_km, odometer_gps_ratio, distance_flag,
        driving_s, idle_s, parked_s, offline_s, trips, first_movement_at, last_movement_at,
        alarms_total, alarms_harsh_acceleration, alarms_harsh_braking, alarms_sharp_turn, alarms_overspeed,
        alarms_sos, alarms_power, alarms_tamper, alarms_collision, alarms_fatigue, alarms_geofence, alarms_other,
        overspeed_position_events, aggression_events, aggression_index, utilisation_pct,
        fuel_estimate_l, idle_fuel_l, idle_cost)
    SELECT p_day, m.imei, m.device_name, m.license_plate_no, m.driver_name, m.assigned_city, m.account,
           m.km, CASE WHEN m.odo_ok THEN 'odometer' ELSE 'gps' END, m.gps_km,
           CASE WHEN m.odo_ok THEN m.odo_km END, m.ratio,
           coalesce(m.ratio NOT BETWEEN m.ratio_low AND m.ratio_high, false),
           m.driving_s, m.idle_s, m.parked_s, m.offline_s, m.trips, m.first_movement_at, m.last_movement_at,
           coalesce(m.total, 0), coalesce(m.harsh_acceleration, 0), coalesce(m.harsh_braking, 0),
           coalesce(m.sharp_turn, 0), coalesce(m.overspeed, 0), coalesce(m.sos, 0), coalesce(m.power, 0),
           coalesce(m.tamper, 0), coalesce(m.collision, 0), coalesce(m.fatigue, 0), coalesce(m.geofence, 0),
           coalesce(m.other, 0),
           m.overspeed_position_events, m.aggression_events,
           CASE WHEN m.km >= 1 THEN m.aggression_events * 100.0 / m.km END,
           100.0 * m.driving_s / (m.shift_hours * 3600),
           m.km * m.fuel_100km / 100 + m.idle_s / 3600.0 * m.idle_lph,
           m.idle_s / 3600.0 * m.idle_lph,
           m.idle_s / 3600.0 * m.idle_lph * m.fuel_price
    FROM metrics m;
    GET DIAGNOSTICS n_rows = ROW_COUNT;

    INSERT INTO gold.fact_driver_daily_behaviour (
        local_day, driver_key, driver_name, vehicles, km, driving_s, harsh_acceleration, harsh_braking,
        sharp_turn, overspeed, aggression_events, aggression_index)
    SELECT p_day, coalesce(f.driver_name, 'vehicle:' || f.imei), min(f.driver_name), count(*), sum(f.km),
           sum(f.driving_s), sum(f.alarms_harsh_acceleration), sum(f.alarms_harsh_braking),
           sum(f.alarms_sharp_turn), sum(greatest(f.alarms_overspeed, f.overspeed_position_events)),
           sum(f.aggression_events),
           CASE WHEN sum(f.km) >= 1 THEN sum(f.aggression_events) * 100.0 / sum(f.km) END
    FROM gold.fact_daily_fleet_metrics f
    WHERE f.local_day = p_day
    GROUP BY coalesce(f.driver_name, 'vehicle:' || f.imei);

    RETURN n_rows;
END;
$$;
COMMENT ON FUNCTION gold.refresh_daily_metrics IS
    'Replace the gold facts of one local day from silver (rebuilt first) and bronze; returns vehicle rows';
