-- Analytics views, second pass (same columns as 0050-0052; docs/ANALYTICS.md):
-- * The state rule takes its thresholds as arguments (tracksolid.vehicle_state, 6 arguments, IMMUTABLE), so it
--   is inlined and the views pass each threshold once per query; the 4-argument form of 0050 reads the settings
--   itself and calls it, so there is still one rule.
-- * state_since is one function, tracksolid.state_since(), evaluated only where a query asks for it. A gap of
--   offline_gap_s or more between fixes now ends the run too (the vehicle was offline in between).
-- * v_today_tail reads live_positions itself (it needed the state only, not v_vehicle_state_now's state_since
--   for every vehicle) and measures distances with the haversine formula (as the warehouse's silver layer)
--   instead of PostGIS geography objects, several times cheaper per fix.
-- * v_fix_arrival_latency looks back latency_window_min (default 60), not health_window_h: over 24 h it read a
--   whole day of fixes.

INSERT INTO tracksolid.settings (key, value, description) VALUES
    ('latency_window_min', 60, 'window of v_fix_arrival_latency (minutes of arrivals)')
ON CONFLICT (key) DO NOTHING;

-- Great-circle distance (mean Earth radius), the warehouse's silver.haversine_km: plain arithmetic, inlined.
CREATE OR REPLACE FUNCTION tracksolid.haversine_km(lat1 double precision, lng1 double precision,
                                                   lat2 double precision, lng2 double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 2 * 6371.0088 * asin(least(1.0, sqrt(
        power(sin(radians(lat2 - lat1) / 2), 2)
        + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lng2 - lng1) / 2), 2))))
$$;
COMMENT ON FUNCTION tracksolid.haversine_km IS 'Great-circle distance in km (mean Earth radius 6371.0088 km)';

CREATE OR REPLACE FUNCTION tracksolid.vehicle_state(p_gps_time timestamptz, p_speed_kmh numeric,
                                                    p_acc_status boolean, p_at timestamptz,
                                                    p_moving_speed_kmh numeric, p_offline_gap_s numeric)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_gps_time IS NULL OR p_at - p_gps_time >= make_interval(secs => p_offline_gap_s)
                THEN 'offline'
                ELSE tracksolid.point_state(p_speed_kmh, p_acc_status, p_moving_speed_kmh) END
$$;
COMMENT ON FUNCTION tracksolid.vehicle_state(timestamptz, numeric, boolean, timestamptz, numeric, numeric) IS
    'moving | idle | parked | offline of a vehicle at p_at from its latest fix, given the thresholds (the state rule)';

CREATE OR REPLACE FUNCTION tracksolid.vehicle_state(p_gps_time timestamptz, p_speed_kmh numeric,
                                                    p_acc_status boolean, p_at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT tracksolid.vehicle_state(p_gps_time, p_speed_kmh, p_acc_status, p_at,
                                    tracksolid.setting('moving_speed_kmh'), tracksolid.setting('offline_gap_s'))
$$;

-- First fix of the vehicle's current run of same-state fixes: after the latest fix in another state and after
-- the latest gap of offline_gap_s or more, searched back at most state_since_lookback_h (a longer run shows
-- that bound). Offline or never reported: the latest fix itself.
CREATE OR REPLACE FUNCTION tracksolid.state_since(p_imei text, p_gps_time timestamptz, p_state text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
-- plpgsql, not sql: its plans are cached across calls (a SQL function with a FROM is planned on every call).
DECLARE
    gap_s      numeric := tracksolid.setting('offline_gap_s');
    lookback   interval := make_interval(secs => tracksolid.setting('state_since_lookback_h') * 3600);
    moving_kmh numeric := tracksolid.setting('moving_speed_kmh');
    boundary   timestamptz;
    since      timestamptz;
BEGIN
    IF p_state = 'offline' OR p_gps_time IS NULL THEN
        RETURN p_gps_time;
    END IF;
    SELECT max(x.gps_time) INTO boundary FROM tracksolid.position_history x
    WHERE x.imei = p_imei AND x.gps_time < p_gps_time AND x.gps_time >= p_gps_time - lookback
      AND tracksolid.point_state(x.speed_kmh, x.acc_status, moving_kmh) <> p_state;
    SELECT coalesce(max(r.gps_time) FILTER (WHERE r.gap >= gap_s), min(r.gps_time)) INTO since
    FROM (SELECT h.gps_time, extract(epoch FROM h.gps_time - lag(h.gps_time) OVER (ORDER BY h.gps_time)) AS gap
          FROM tracksolid.position_history h
          WHERE h.imei = p_imei AND h.gps_time <= p_gps_time
            AND h.gps_time > coalesce(boundary, p_gps_time - lookback)) r;
    RETURN coalesce(since, p_gps_time);
END;
$$;
COMMENT ON FUNCTION tracksolid.state_since IS
    'Start of the current run of p_state fixes (no other state, no offline gap), within state_since_lookback_h';

CREATE OR REPLACE VIEW tracksolid.v_vehicle_state_now AS
SELECT v.imei, v.vehicle, v.plate, v.driver_name, v.city, v.account,
       st.state,
       lp.gps_time,
       extract(epoch FROM now() - lp.gps_time)::bigint AS age_s,
       lp.speed_kmh,
       lp.acc_status,
       lp.direction,
       lp.lat   AS latitude,
       lp.lng   AS longitude,
       lp.hb_time AS last_heartbeat_at,
       lp.source,
       tracksolid.state_since(lp.imei, lp.gps_time, st.state) AS state_since
FROM tracksolid.v_vehicles v
LEFT JOIN tracksolid.live_positions lp ON lp.imei = v.imei
CROSS JOIN LATERAL (
    SELECT tracksolid.vehicle_state(lp.gps_time, lp.speed_kmh, lp.acc_status, now(),
                                    (SELECT tracksolid.setting('moving_speed_kmh')),
                                    (SELECT tracksolid.setting('offline_gap_s'))) AS state) st
WHERE v.is_active;

CREATE OR REPLACE VIEW tracksolid.v_today_tail AS
SELECT d.imei,
       tracksolid.local_day(now()) AS day,
       tf.tail_from,
       coalesce(p.fixes, 0)        AS tail_fixes,
       coalesce(p.km, 0)           AS km,
       coalesce(p.moving_s, 0)     AS moving_s,
       CASE WHEN st.state = 'idle' THEN extract(epoch FROM now() - greatest(
                tracksolid.state_since(d.imei, lp.gps_time, st.state), tracksolid.today_start(),
                (SELECT max(e.end_time) FROM tracksolid.parking_events e
                 WHERE e.acc_type = 'on' AND e.imei = d.imei
                   AND tracksolid.local_day(e.start_time) = tracksolid.local_day(now()))))
            ELSE 0 END::float8     AS ongoing_idle_s
FROM tracksolid.devices d
LEFT JOIN tracksolid.live_positions lp ON lp.imei = d.imei
CROSS JOIN LATERAL (
    SELECT tracksolid.vehicle_state(lp.gps_time, lp.speed_kmh, lp.acc_status, now(),
                                    (SELECT tracksolid.setting('moving_speed_kmh')),
                                    (SELECT tracksolid.setting('offline_gap_s'))) AS state) st
CROSS JOIN LATERAL (
    -- a trip belongs to the day it started in (track.mileage window semantics), so one crossing midnight
    -- still moves the tail start
    SELECT greatest(tracksolid.today_start(),
                    (SELECT max(t.end_time) FROM tracksolid.trips t
                     WHERE t.imei = d.imei AND t.start_time >= tracksolid.today_start() - interval '1 day'
                       AND t.end_time <= now())) AS tail_from
    OFFSET 0) tf  -- evaluated once per vehicle, not once per use
LEFT JOIN LATERAL (
    SELECT count(*) AS fixes,
           sum(CASE WHEN q.gap_s < (SELECT tracksolid.setting('offline_gap_s'))
                     AND 'moving' IN (q.state, q.prev_state)
                     AND q.dist_km * 3600 <= (SELECT tracksolid.setting('max_jump_kmh')) * q.gap_s
                    THEN q.dist_km ELSE 0 END) AS km,
           sum(CASE WHEN q.gap_s < (SELECT tracksolid.setting('offline_gap_s')) AND q.prev_state = 'moving'
                    THEN q.gap_s ELSE 0 END)   AS moving_s
    FROM (SELECT tracksolid.point_state(h.speed_kmh, h.acc_status,
                                        (SELECT tracksolid.setting('moving_speed_kmh'))) AS state,
                 lag(tracksolid.point_state(h.speed_kmh, h.acc_status,
                                            (SELECT tracksolid.setting('moving_speed_kmh')))) OVER w AS prev_state,
                 extract(epoch FROM h.gps_time - lag(h.gps_time) OVER w)::float8 AS gap_s,
                 tracksolid.haversine_km(lag(h.lat) OVER w, lag(h.lng) OVER w, h.lat, h.lng) AS dist_km
          FROM tracksolid.position_history h
          WHERE h.imei = d.imei AND h.gps_time >= tf.tail_from AND h.gps_time <= now()
          WINDOW w AS (ORDER BY h.gps_time)) q) p ON true
WHERE d.is_active;

CREATE OR REPLACE VIEW tracksolid.v_fix_arrival_latency AS
SELECT h.source,
       count(*)::bigint                                                       AS fixes,
       count(*) FILTER (WHERE h.gps_mode = 1)::bigint                         AS late_fixes,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM h.ingested_at - h.gps_time))
           FILTER (WHERE h.gps_mode IS DISTINCT FROM 1)                       AS p50_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM h.ingested_at - h.gps_time))
           FILTER (WHERE h.gps_mode IS DISTINCT FROM 1)                       AS p95_s,
       max(h.ingested_at)                                                     AS last_ingested_at
FROM tracksolid.position_history h
WHERE h.ingested_at >= now() - make_interval(mins => (SELECT tracksolid.setting('latency_window_min'))::integer)
GROUP BY h.source;
COMMENT ON VIEW tracksolid.v_fix_arrival_latency IS
    'Per fix source over latency_window_min: fixes, late (re-uploaded) fixes, p50/p95 seconds from GPS time to stored';
