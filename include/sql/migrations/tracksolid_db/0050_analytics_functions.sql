-- Building blocks of the analytics views (SPEC §7, docs/ANALYTICS.md): the local day, settings lookup, the ONE
-- rule that decides a vehicle's state, alarm classes, the extra threshold keys, and the indexes that keep the
-- "today" and daily views on index range scans instead of scanning position_history.

-- Local day: Kenya and Uganda are both UTC+3 all year (no DST), so one zone serves every vehicle.
-- IMMUTABLE (timezone(text, timestamptz) is), so expression indexes on local_day(...) can serve `day = ...`.
CREATE OR REPLACE FUNCTION tracksolid.local_day(p_ts timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (p_ts AT TIME ZONE 'Africa/Nairobi')::date
$$;
COMMENT ON FUNCTION tracksolid.local_day IS 'Local (Africa/Nairobi) date of a moment';

CREATE OR REPLACE FUNCTION tracksolid.local_day_start(p_day date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_day::timestamp AT TIME ZONE 'Africa/Nairobi'
$$;
COMMENT ON FUNCTION tracksolid.local_day_start IS 'First moment of a local (Africa/Nairobi) day';

CREATE OR REPLACE FUNCTION tracksolid.today_start() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT tracksolid.local_day_start(tracksolid.local_day(now()))
$$;
COMMENT ON FUNCTION tracksolid.today_start IS 'Local midnight (Africa/Nairobi) that opened the current day';

-- Threshold lookup: the only way view bodies get a number.
CREATE OR REPLACE FUNCTION tracksolid.setting(p_key text) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT s.value FROM tracksolid.settings s WHERE s.key = p_key
$$;
COMMENT ON FUNCTION tracksolid.setting IS 'Value of a threshold in tracksolid.settings (NULL when the key is absent)';

-- State of one fix (ALGORITHMS.md "One state per point"; the same rule as the warehouse's silver.fixes):
-- parked: ACC off; moving: ACC on/unknown and speed > moving_speed_kmh; idle: ACC on and not moving;
-- ACC unknown and not moving: parked.
CREATE OR REPLACE FUNCTION tracksolid.point_state(p_speed_kmh numeric, p_acc_status boolean,
                                                  p_moving_speed_kmh numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_acc_status IS FALSE THEN 'parked'
                WHEN coalesce(p_speed_kmh, 0) > p_moving_speed_kmh THEN 'moving'
                WHEN p_acc_status THEN 'idle'
                ELSE 'parked' END
$$;
COMMENT ON FUNCTION tracksolid.point_state IS
    'moving | idle | parked of one fix, given the moving-speed threshold (ALGORITHMS.md)';

-- State of a vehicle at a moment from its latest fix: offline when that fix is offline_gap_s old or more
-- (or there is none), else the fix's own state. Every view that shows a current state calls this.
CREATE OR REPLACE FUNCTION tracksolid.vehicle_state(p_gps_time timestamptz, p_speed_kmh numeric,
                                                    p_acc_status boolean, p_at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_gps_time IS NULL
                  OR p_at - p_gps_time >= make_interval(secs => tracksolid.setting('offline_gap_s'))
                THEN 'offline'
                ELSE tracksolid.point_state(p_speed_kmh, p_acc_status, tracksolid.setting('moving_speed_kmh')) END
$$;
COMMENT ON FUNCTION tracksolid.vehicle_state IS
    'moving | idle | parked | offline of a vehicle at p_at from its latest fix (the single state rule)';

-- Threshold keys the views need beyond 0004 (0004's keys are reused: moving_speed_kmh, offline_gap_s,
-- max_jump_kmh, idle_litres_per_hour, fuel_price_per_litre, shift_hours, service_interval_km, silent_hours_*).
INSERT INTO tracksolid.settings (key, value, description) VALUES
    ('excessive_idle_s', 900, 'an idle spell this long is excessive (currently-idle flag)'),
    ('state_since_lookback_h', 12, 'how far back state_since is searched in position_history'),
    ('sla_at_risk_pct', 80, 'a ticket past this share of its SLA minutes is at risk'),
    ('health_window_h', 24, 'window of the pipeline-health views (endpoint success rate, latency, push lag)')
ON CONFLICT (key) DO NOTHING;

-- Alarm classes (TRACKSOLID_API.md §8), same rows as the warehouse's gold.alarm_classes.
CREATE TABLE IF NOT EXISTS tracksolid.alarm_classes (
    alarm_type  text PRIMARY KEY,
    alarm_class text NOT NULL,
    aggressive  boolean NOT NULL DEFAULT false   -- counts toward the aggression index
);
COMMENT ON TABLE tracksolid.alarm_classes IS 'Alarm type -> class (harsh_acceleration, sos, ...) for the views';
INSERT INTO tracksolid.alarm_classes (alarm_type, alarm_class, aggressive) VALUES
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
GRANT SELECT ON tracksolid.alarm_classes TO grafana_ro, dwh_owner;

-- Daily views group by local day: expression indexes answer `day = ...` / `day BETWEEN ...`; the today views
-- use plain time ranges.
CREATE INDEX IF NOT EXISTS trips_local_day_idx ON tracksolid.trips (tracksolid.local_day(start_time), imei);
CREATE INDEX IF NOT EXISTS parking_events_local_day_idx
    ON tracksolid.parking_events (tracksolid.local_day(start_time), imei) WHERE acc_type = 'on';
CREATE INDEX IF NOT EXISTS alarms_local_day_idx ON tracksolid.alarms (tracksolid.local_day(alarm_time), imei);
CREATE INDEX IF NOT EXISTS dispatch_log_open_idx ON tracksolid.dispatch_log (dispatched_at)
    WHERE completed_at IS NULL;
CREATE INDEX IF NOT EXISTS tickets_open_idx ON ops.tickets (opened_at) WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS service_log_imei_idx ON ops.service_log (imei, service_date);
