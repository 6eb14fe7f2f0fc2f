-- Live analytics views for Grafana (SPEC §7; columns documented in docs/ANALYTICS.md). Conventions: imei,
-- vehicle (device name, else plate, else imei), plate, driver_name, city (devices.assigned_city), day (local
-- Africa/Nairobi date) on daily views, latitude/longitude for points. Thresholds come from tracksolid.settings
-- through tracksolid.setting(), written as `(SELECT tracksolid.setting(...))` so each is read once per query.
-- Nothing here scans position_history beyond index range scans of one device: the current state reads
-- live_positions; km and driving time come from the API trips plus, for today only, the fixes after the last
-- reported trip.

CREATE VIEW tracksolid.v_vehicles AS
SELECT d.imei,
       coalesce(nullif(btrim(d.device_name), ''), nullif(btrim(d.license_plate_no), ''), d.imei) AS vehicle,
       d.license_plate_no AS plate,
       d.driver_name,
       d.assigned_city     AS city,
       d.account,
       d.mc_type           AS model,
       d.is_active
FROM tracksolid.devices d;
COMMENT ON VIEW tracksolid.v_vehicles IS
    'Every device with its display name (device name, else plate, else imei), plate, driver and city';

-- Current state of every active vehicle from live_positions and the single rule tracksolid.vehicle_state().
-- state_since: first fix of the current unbroken run of same-state fixes, searched back at most
-- state_since_lookback_h hours (older runs show the lookback bound); offline: the last fix.
CREATE VIEW tracksolid.v_vehicle_state_now AS
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
       CASE WHEN st.state = 'offline' THEN lp.gps_time
            ELSE coalesce((
                SELECT min(h.gps_time) FROM tracksolid.position_history h
                WHERE h.imei = lp.imei AND h.gps_time <= lp.gps_time
                  AND h.gps_time > coalesce(
                      (SELECT max(x.gps_time) FROM tracksolid.position_history x
                       WHERE x.imei = lp.imei AND x.gps_time < lp.gps_time
                         AND x.gps_time >= lp.gps_time
                             - make_interval(secs => (SELECT tracksolid.setting('state_since_lookback_h')) * 3600)
                         AND tracksolid.point_state(x.speed_kmh, x.acc_status,
                                                    (SELECT tracksolid.setting('moving_speed_kmh'))) <> st.state),
                      lp.gps_time
                          - make_interval(secs => (SELECT tracksolid.setting('state_since_lookback_h')) * 3600))),
                lp.gps_time) END AS state_since
FROM tracksolid.v_vehicles v
LEFT JOIN tracksolid.live_positions lp ON lp.imei = v.imei
CROSS JOIN LATERAL (SELECT tracksolid.vehicle_state(lp.gps_time, lp.speed_kmh, lp.acc_status, now()) AS state) st
WHERE v.is_active;
COMMENT ON VIEW tracksolid.v_vehicle_state_now IS
    'Active vehicles now: moving | idle | parked | offline (tracksolid.vehicle_state), position, since when';

CREATE VIEW tracksolid.v_currently_idle AS
SELECT s.imei, s.vehicle, s.plate, s.driver_name, s.city,
       s.latitude, s.longitude, s.gps_time,
       s.state_since                                   AS idle_since,
       extract(epoch FROM now() - s.state_since)::bigint AS idle_s,
       extract(epoch FROM now() - s.state_since) / 3600.0
           * (SELECT tracksolid.setting('idle_litres_per_hour'))
           * (SELECT tracksolid.setting('fuel_price_per_litre')) AS idle_cost_so_far,
       now() - s.state_since >= make_interval(secs => (SELECT tracksolid.setting('excessive_idle_s'))) AS excessive
FROM tracksolid.v_vehicle_state_now s
WHERE s.state = 'idle';
COMMENT ON VIEW tracksolid.v_currently_idle IS
    'Vehicles idling now (ACC on, not moving), since when, idle cost so far, and whether it is excessive';

CREATE VIEW tracksolid.v_silent_devices AS
SELECT v.imei, v.vehicle, v.plate, v.driver_name, v.city, v.account,
       lp.gps_time                                          AS last_seen_at,
       lp.hb_time                                           AS last_heartbeat_at,
       lp.lat                                               AS latitude,
       lp.lng                                               AS longitude,
       round((extract(epoch FROM now() - lp.gps_time) / 3600.0)::numeric, 1) AS silent_hours,
       b.bucket,
       b.bucket_rank,
       lp.gps_time IS NULL                                  AS never_reported
FROM tracksolid.v_vehicles v
LEFT JOIN tracksolid.live_positions lp ON lp.imei = v.imei
CROSS JOIN LATERAL (
    SELECT trim_scale(t.hours)::text || 'h' AS bucket, t.rank AS bucket_rank
    FROM (VALUES (1, (SELECT tracksolid.setting('silent_hours_warn'))),
                 (2, (SELECT tracksolid.setting('silent_hours_alert'))),
                 (3, (SELECT tracksolid.setting('silent_hours_critical'))),
                 (4, (SELECT tracksolid.setting('silent_hours_lost')))) t(rank, hours)
    WHERE lp.gps_time IS NULL OR now() - lp.gps_time >= make_interval(secs => t.hours * 3600)
    ORDER BY t.rank DESC
    LIMIT 1) b
WHERE v.is_active;
COMMENT ON VIEW tracksolid.v_silent_devices IS
    'Active devices with no fix for silent_hours_warn hours or more (buckets from settings), or never reported';

-- Today's activity not yet in the API trips: the fixes after the last reported trip ended (or local
-- midnight), and the idle spell in progress (the parking report only lists finished spells).
CREATE VIEW tracksolid.v_today_tail AS
SELECT d.imei,
       tracksolid.local_day(now()) AS day,
       tf.tail_from,
       coalesce(p.fixes, 0)        AS tail_fixes,
       coalesce(p.km, 0)           AS km,
       coalesce(p.moving_s, 0)     AS moving_s,
       CASE WHEN s.state = 'idle' THEN extract(epoch FROM now() - greatest(
                s.state_since, tracksolid.today_start(),
                (SELECT max(e.end_time) FROM tracksolid.parking_events e
                 WHERE e.acc_type = 'on' AND e.imei = d.imei
                   AND tracksolid.local_day(e.start_time) = tracksolid.local_day(now()))))
            ELSE 0 END::float8     AS ongoing_idle_s
FROM tracksolid.devices d
CROSS JOIN LATERAL (
    -- a trip belongs to the day it started in (track.mileage window semantics), so one crossing midnight
    -- still moves the tail start
    SELECT greatest(tracksolid.today_start(),
                    (SELECT max(t.end_time) FROM tracksolid.trips t
                     WHERE t.imei = d.imei AND t.start_time >= tracksolid.today_start() - interval '1 day'
                       AND t.end_time <= now())) AS tail_from) tf
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
                 ST_Distance(ST_MakePoint(h.lng, h.lat)::geography,
                             lag(ST_MakePoint(h.lng, h.lat)::geography) OVER w) / 1000.0 AS dist_km
          FROM tracksolid.position_history h
          WHERE h.imei = d.imei AND h.gps_time >= tf.tail_from AND h.gps_time <= now()
          WINDOW w AS (ORDER BY h.gps_time)) q) p ON true
LEFT JOIN tracksolid.v_vehicle_state_now s ON s.imei = d.imei
WHERE d.is_active;
COMMENT ON VIEW tracksolid.v_today_tail IS
    'Per active vehicle today: km and moving seconds from fixes after the last reported trip; idle in progress';

-- Vehicle x local day: trips (km, driving time) by start day, idle spells (parking report, acc on) by start
-- day, alarms by class, plus today's tail. Filter on `day`: it reaches the expression indexes of 0050.
CREATE VIEW tracksolid.v_vehicle_activity_daily AS
SELECT a.day, a.imei,
       sum(a.trips)::integer               AS trips,
       sum(a.km)                           AS km,
       sum(a.driving_s)                    AS driving_s,
       sum(a.idle_s)                       AS idle_s,
       sum(a.idle_spells)::integer         AS idle_spells,
       sum(a.alarms)::integer              AS alarms,
       sum(a.harsh_acceleration)::integer  AS harsh_acceleration,
       sum(a.harsh_braking)::integer       AS harsh_braking,
       sum(a.sharp_turn)::integer          AS sharp_turn,
       sum(a.overspeed)::integer           AS overspeed,
       sum(a.aggression_events)::integer   AS aggression_events,
       min(a.first_trip_at)                AS first_trip_at,
       max(a.last_trip_end_at)             AS last_trip_end_at
FROM (
    SELECT tracksolid.local_day(t.start_time) AS day, t.imei, 1 AS trips,
           coalesce(t.distance_km, 0)::float8 AS km,
           coalesce(t.run_time_s, extract(epoch FROM t.end_time - t.start_time), 0)::float8 AS driving_s,
           0::float8 AS idle_s, 0 AS idle_spells, 0 AS alarms, 0 AS harsh_acceleration, 0 AS harsh_braking,
           0 AS sharp_turn, 0 AS overspeed, 0 AS aggression_events,
           t.start_time AS first_trip_at, t.end_time AS last_trip_end_at
    FROM tracksolid.trips t
    UNION ALL
    SELECT tracksolid.local_day(e.start_time), e.imei, 0, 0, 0,
           coalesce(e.duration_s, extract(epoch FROM e.end_time - e.start_time), 0)::float8, 1,
           0, 0, 0, 0, 0, 0, NULL, NULL
    FROM tracksolid.parking_events e
    WHERE e.acc_type = 'on'
    UNION ALL
    SELECT tracksolid.local_day(al.alarm_time), al.imei, 0, 0, 0, 0, 0, 1,
           (c.alarm_class = 'harsh_acceleration')::integer, (c.alarm_class = 'harsh_braking')::integer,
           (c.alarm_class = 'sharp_turn')::integer, (c.alarm_class = 'overspeed')::integer,
           coalesce(c.aggressive, false)::integer, NULL, NULL
    FROM tracksolid.alarms al
    LEFT JOIN tracksolid.alarm_classes c ON c.alarm_type = al.alarm_type
    UNION ALL
    SELECT x.day, x.imei, 0, x.km, x.moving_s, x.ongoing_idle_s, 0, 0, 0, 0, 0, 0, 0, NULL, NULL
    FROM tracksolid.v_today_tail x
) a
GROUP BY a.day, a.imei;
COMMENT ON VIEW tracksolid.v_vehicle_activity_daily IS
    'Vehicle x local day: trips, km, driving / idle seconds, alarms by class (API trips + parking report + today''s tail)';

CREATE VIEW tracksolid.v_fleet_km_daily AS
SELECT a.day, a.imei, v.vehicle, v.plate, v.driver_name, v.city,
       a.km, a.trips, a.driving_s, a.first_trip_at, a.last_trip_end_at
FROM tracksolid.v_vehicle_activity_daily a
JOIN tracksolid.v_vehicles v ON v.imei = a.imei;
COMMENT ON VIEW tracksolid.v_fleet_km_daily IS 'Km, trips and driving seconds per vehicle per local day';

CREATE VIEW tracksolid.v_utilisation_daily AS
SELECT a.day, a.imei, v.vehicle, v.plate, v.driver_name, v.city,
       a.driving_s, a.idle_s,
       s.shift_s,
       100.0 * a.driving_s / s.shift_s                    AS utilisation_pct,
       100.0 * a.idle_s / s.shift_s                       AS idle_pct_of_shift,
       a.idle_s / 3600.0                                  AS idle_h,
       a.idle_s / 3600.0 * s.idle_lph                     AS idle_fuel_l,
       a.idle_s / 3600.0 * s.idle_lph * s.fuel_price      AS idle_cost
FROM tracksolid.v_vehicle_activity_daily a
JOIN tracksolid.v_vehicles v ON v.imei = a.imei
CROSS JOIN (SELECT (SELECT tracksolid.setting('shift_hours')) * 3600 AS shift_s,
                   (SELECT tracksolid.setting('idle_litres_per_hour')) AS idle_lph,
                   (SELECT tracksolid.setting('fuel_price_per_litre')) AS fuel_price) s;
COMMENT ON VIEW tracksolid.v_utilisation_daily IS
    'Per vehicle per local day: driving and idle seconds, utilisation % and idle % of the shift, idle cost';

CREATE VIEW tracksolid.v_alarms_daily AS
SELECT tracksolid.local_day(al.alarm_time) AS day, al.imei, v.vehicle, v.plate, v.driver_name, v.city,
       al.alarm_type,
       max(al.alarm_name)                    AS alarm_name,
       coalesce(c.alarm_class, 'other')      AS alarm_class,
       coalesce(c.aggressive, false)         AS aggressive,
       count(*)::integer                     AS alarms,
       min(al.alarm_time)                    AS first_at,
       max(al.alarm_time)                    AS last_at
FROM tracksolid.alarms al
JOIN tracksolid.v_vehicles v ON v.imei = al.imei
LEFT JOIN tracksolid.alarm_classes c ON c.alarm_type = al.alarm_type
GROUP BY 1, al.imei, v.vehicle, v.plate, v.driver_name, v.city, al.alarm_type, c.alarm_class, c.aggressive;
COMMENT ON VIEW tracksolid.v_alarms_daily IS 'Alarm counts per vehicle, alarm type and local day, with the alarm class';

CREATE VIEW tracksolid.v_driver_aggregates_daily AS
SELECT a.day,
       coalesce(v.driver_name, v.vehicle)   AS driver_name,
       v.driver_name IS NULL                AS unassigned,
       min(v.city)                          AS city,
       count(*)::integer                    AS vehicles,
       sum(a.km)                            AS km,
       sum(a.trips)::integer                AS trips,
       sum(a.driving_s)                     AS driving_s,
       sum(a.idle_s)                        AS idle_s,
       sum(a.alarms)::integer               AS alarms,
       sum(a.harsh_acceleration)::integer   AS harsh_acceleration,
       sum(a.harsh_braking)::integer        AS harsh_braking,
       sum(a.sharp_turn)::integer           AS sharp_turn,
       sum(a.overspeed)::integer            AS overspeed,
       sum(a.aggression_events)::integer    AS aggression_events,
       CASE WHEN sum(a.km) > 0 THEN sum(a.aggression_events) * 100.0 / sum(a.km) END AS aggression_index,
       CASE WHEN sum(a.km) > 0 THEN sum(a.alarms) * 100.0 / sum(a.km) END            AS alarms_per_100km
FROM tracksolid.v_vehicle_activity_daily a
JOIN tracksolid.v_vehicles v ON v.imei = a.imei
GROUP BY a.day, coalesce(v.driver_name, v.vehicle), v.driver_name IS NULL;
COMMENT ON VIEW tracksolid.v_driver_aggregates_daily IS
    'Per driver (vehicle name when none assigned) per local day: km, time, alarms, aggression index per 100 km';

-- Every active vehicle today, moved or not.
CREATE VIEW tracksolid.v_fleet_today AS
SELECT tracksolid.local_day(now())                 AS day,
       s.imei, s.vehicle, s.plate, s.driver_name, s.city, s.account,
       s.state, s.state_since, s.gps_time AS last_seen_at, s.speed_kmh, s.latitude, s.longitude,
       coalesce(a.km, 0)                           AS km,
       coalesce(a.trips, 0)                        AS trips,
       coalesce(a.driving_s, 0)                    AS driving_s,
       coalesce(a.idle_s, 0)                       AS idle_s,
       coalesce(a.alarms, 0)                       AS alarms,
       coalesce(a.aggression_events, 0)            AS aggression_events,
       100.0 * coalesce(a.driving_s, 0) / ((SELECT tracksolid.setting('shift_hours')) * 3600) AS utilisation_pct,
       coalesce(a.idle_s, 0) / 3600.0 * (SELECT tracksolid.setting('idle_litres_per_hour'))
           * (SELECT tracksolid.setting('fuel_price_per_litre'))                          AS idle_cost,
       m.first_moved_at,
       (m.first_moved_at IS NOT NULL OR coalesce(a.trips, 0) > 0) AS moved_today
FROM tracksolid.v_vehicle_state_now s
LEFT JOIN (SELECT * FROM tracksolid.v_vehicle_activity_daily WHERE day = tracksolid.local_day(now())) a
       ON a.imei = s.imei
CROSS JOIN LATERAL (
    SELECT min(h.gps_time) AS first_moved_at FROM tracksolid.position_history h
    WHERE h.imei = s.imei AND h.gps_time >= tracksolid.today_start() AND h.gps_time <= now()
      AND tracksolid.point_state(h.speed_kmh, h.acc_status, (SELECT tracksolid.setting('moving_speed_kmh')))
          = 'moving') m;
COMMENT ON VIEW tracksolid.v_fleet_today IS
    'Per active vehicle today: state now, km, trips, driving / idle time, alarms, utilisation, idle cost, moved';

CREATE VIEW tracksolid.v_vehicles_not_moved_today AS
SELECT f.day, f.imei, f.vehicle, f.plate, f.driver_name, f.city,
       f.state, f.last_seen_at, f.latitude, f.longitude,
       lt.last_trip_end_at,
       extract(epoch FROM now() - lt.last_trip_end_at) / 3600.0 AS hours_since_last_trip
FROM tracksolid.v_fleet_today f
LEFT JOIN LATERAL (
    SELECT max(t.end_time) AS last_trip_end_at FROM tracksolid.trips t WHERE t.imei = f.imei) lt ON true
WHERE NOT f.moved_today;
COMMENT ON VIEW tracksolid.v_vehicles_not_moved_today IS
    'Active vehicles with no moving fix and no trip since local midnight (Africa/Nairobi)';

CREATE VIEW tracksolid.v_active_dispatch_map AS
SELECT dl.id AS dispatch_id, dl.ticket_ref, dl.imei, s.vehicle, s.plate, s.driver_name,
       coalesce(s.city, tk.city)         AS city,
       dl.status                         AS dispatch_status,
       dl.dispatched_at, dl.arrived_at,
       s.state, s.gps_time, s.speed_kmh,
       s.latitude, s.longitude,
       tk.customer,
       tk.lat                            AS site_latitude,
       tk.lng                            AS site_longitude,
       tk.opened_at + make_interval(mins => tk.sla_minutes) AS due_at,
       ST_Distance(ST_MakePoint(s.longitude, s.latitude)::geography,
                   ST_MakePoint(tk.lng, tk.lat)::geography) / 1000.0 AS distance_to_site_km
FROM tracksolid.dispatch_log dl
LEFT JOIN tracksolid.v_vehicle_state_now s ON s.imei = dl.imei
LEFT JOIN ops.tickets tk ON tk.ticket_ref = dl.ticket_ref
WHERE dl.completed_at IS NULL;
COMMENT ON VIEW tracksolid.v_active_dispatch_map IS
    'Open dispatches: the vehicle''s live position and state beside the job site, due time and distance';

CREATE VIEW tracksolid.v_sla_inflight AS
SELECT tk.id AS ticket_id, tk.ticket_ref, tk.customer,
       coalesce(v.city, tk.city)                                 AS city,
       dl.imei, v.vehicle, v.plate, v.driver_name,
       tk.status, dl.status                                      AS dispatch_status,
       tk.opened_at, tk.sla_minutes,
       tk.opened_at + make_interval(mins => tk.sla_minutes)      AS due_at,
       dl.dispatched_at, dl.arrived_at,
       extract(epoch FROM now() - tk.opened_at) / 60.0           AS elapsed_min,
       tk.sla_minutes - extract(epoch FROM now() - tk.opened_at) / 60.0 AS remaining_min,
       100.0 * extract(epoch FROM now() - tk.opened_at) / 60.0 / nullif(tk.sla_minutes, 0) AS sla_used_pct,
       CASE WHEN now() >= tk.opened_at + make_interval(mins => tk.sla_minutes) THEN 'breached'
            WHEN extract(epoch FROM now() - tk.opened_at) / 60.0
                 >= tk.sla_minutes * (SELECT tracksolid.setting('sla_at_risk_pct')) / 100.0 THEN 'at_risk'
            ELSE 'ok' END                                        AS sla_status,
       tk.lat AS latitude, tk.lng AS longitude
FROM ops.tickets tk
LEFT JOIN LATERAL (
    SELECT d.imei, d.status, d.dispatched_at, d.arrived_at FROM tracksolid.dispatch_log d
    WHERE d.ticket_ref = tk.ticket_ref ORDER BY d.dispatched_at DESC, d.id DESC LIMIT 1) dl ON true
LEFT JOIN tracksolid.v_vehicles v ON v.imei = dl.imei
WHERE tk.closed_at IS NULL;
COMMENT ON VIEW tracksolid.v_sla_inflight IS
    'Open tickets against their SLA: due time, minutes left, ok | at_risk | breached, the dispatched vehicle';

GRANT SELECT ON tracksolid.v_vehicles, tracksolid.v_vehicle_state_now, tracksolid.v_currently_idle,
    tracksolid.v_silent_devices, tracksolid.v_today_tail, tracksolid.v_vehicle_activity_daily,
    tracksolid.v_fleet_km_daily, tracksolid.v_utilisation_daily, tracksolid.v_alarms_daily,
    tracksolid.v_driver_aggregates_daily, tracksolid.v_fleet_today, tracksolid.v_vehicles_not_moved_today,
    tracksolid.v_active_dispatch_map, tracksolid.v_sla_inflight
    TO grafana_ro;
-- Views are read-only for everyone: the schema's default privileges would let tracksolid_owner write through
-- the simple ones.
REVOKE INSERT, UPDATE, DELETE ON tracksolid.v_vehicles, tracksolid.v_vehicle_state_now,
    tracksolid.v_currently_idle, tracksolid.v_silent_devices, tracksolid.v_today_tail,
    tracksolid.v_vehicle_activity_daily, tracksolid.v_fleet_km_daily, tracksolid.v_utilisation_daily,
    tracksolid.v_alarms_daily, tracksolid.v_driver_aggregates_daily, tracksolid.v_fleet_today,
    tracksolid.v_vehicles_not_moved_today, tracksolid.v_active_dispatch_map, tracksolid.v_sla_inflight
    FROM tracksolid_owner;
