-- Today's numbers without reading position_history at query time (docs/ANALYTICS.md "Today: the live rollup"):
-- tracksolid.vehicle_day_live keeps, per vehicle and local day, km, moving / idle / parked seconds, first and last
-- movement and the current state's start, advanced by a statement trigger on live_positions from each pair
-- (previous live fix -> new live fix). live_positions only moves forward, so the pairs come in time order;
-- re-uploaded (late) fixes never move it and are left to the warehouse. The today views read one row per
-- vehicle from it. Past days stay on the API trips / parking report (0051).
-- Also: today at a glance per city (SPEC §8) and dispatch SLA compliance per day (SPEC §7 KPI).

CREATE TABLE tracksolid.vehicle_day_live (
    day            date NOT NULL,
    imei           text NOT NULL,
    km             double precision NOT NULL DEFAULT 0,
    moving_s       double precision NOT NULL DEFAULT 0,
    idle_s         double precision NOT NULL DEFAULT 0,
    parked_s       double precision NOT NULL DEFAULT 0,
    fixes          integer NOT NULL DEFAULT 0,
    first_fix_at   timestamptz NOT NULL,
    first_moved_at timestamptz,
    last_moved_at  timestamptz,
    last_gps_time  timestamptz NOT NULL,
    last_state     text NOT NULL,
    state_since    timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, imei)
) WITH (fillfactor = 70);  -- updated on every fix: room for HOT updates
COMMENT ON TABLE tracksolid.vehicle_day_live IS
    'Per vehicle per local day, from consecutive live fixes: km, state seconds, movement, current state start';
GRANT SELECT ON tracksolid.vehicle_day_live TO grafana_ro, dwh_owner;
GRANT SELECT, INSERT, UPDATE ON tracksolid.vehicle_day_live TO tracksolid_owner;

-- One pair per updated vehicle: the interval previous fix -> new fix counts for the previous fix's state
-- (ALGORITHMS.md: one state per point), only within one local day and below offline_gap_s (a longer gap is
-- offline); its distance counts when either fix is moving and the implied speed is at most max_jump_kmh.
-- Never raises: a failure here must not lose the fix that fired it (logged as a warning instead).
CREATE OR REPLACE FUNCTION tracksolid.vehicle_day_live_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    moving_kmh numeric := tracksolid.setting('moving_speed_kmh');
    gap_s      numeric := tracksolid.setting('offline_gap_s');
    jump_kmh   numeric := tracksolid.setting('max_jump_kmh');
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tracksolid.vehicle_day_live AS r
            (day, imei, fixes, first_fix_at, first_moved_at, last_moved_at, last_gps_time, last_state, state_since)
        SELECT tracksolid.local_day(n.gps_time), n.imei, 1, n.gps_time,
               CASE WHEN s.state = 'moving' THEN n.gps_time END, CASE WHEN s.state = 'moving' THEN n.gps_time END,
               n.gps_time, s.state, n.gps_time
        FROM new_rows n
        CROSS JOIN LATERAL (SELECT tracksolid.point_state(n.speed_kmh, n.acc_status, moving_kmh) AS state) s
        ON CONFLICT (day, imei) DO UPDATE
        SET last_gps_time = greatest(r.last_gps_time, EXCLUDED.last_gps_time), updated_at = now();
        RETURN NULL;
    END IF;

    WITH pairs AS (
        SELECT n.imei, n.gps_time, o.gps_time AS prev_time,
               tracksolid.local_day(n.gps_time) AS day,
               tracksolid.local_day(o.gps_time) AS prev_day,
               extract(epoch FROM n.gps_time - o.gps_time)::float8 AS dt,
               tracksolid.point_state(o.speed_kmh, o.acc_status, moving_kmh) AS prev_state,
               tracksolid.point_state(n.speed_kmh, n.acc_status, moving_kmh) AS state,
               coalesce(tracksolid.haversine_km(o.lat, o.lng, n.lat, n.lng), 0) AS dist_km
        FROM new_rows n
        JOIN old_rows o ON o.imei = n.imei
        WHERE n.gps_time > o.gps_time),
    c AS (
        SELECT p.*, (p.day = p.prev_day AND p.dt < gap_s) AS counted FROM pairs p)
    INSERT INTO tracksolid.vehicle_day_live AS r
        (day, imei, km, moving_s, idle_s, parked_s, fixes, first_fix_at, first_moved_at, last_moved_at,
         last_gps_time, last_state, state_since)
    SELECT c.day, c.imei,
           CASE WHEN c.counted AND 'moving' IN (c.state, c.prev_state) AND c.dist_km * 3600 <= jump_kmh * c.dt
                THEN c.dist_km ELSE 0 END,
           CASE WHEN c.counted AND c.prev_state = 'moving' THEN c.dt ELSE 0 END,
           CASE WHEN c.counted AND c.prev_state = 'idle' THEN c.dt ELSE 0 END,
           CASE WHEN c.counted AND c.prev_state = 'parked' THEN c.dt ELSE 0 END,
           1, c.gps_time,
           CASE WHEN c.state = 'moving' THEN c.gps_time END,
           CASE WHEN c.state = 'moving' THEN c.gps_time END,
           c.gps_time, c.state,
           -- the run goes on: a new day's row takes its start from yesterday's row (today's row, on
           -- conflict below, keeps its own); a new state or an offline gap starts a run at this fix
           CASE WHEN c.state <> c.prev_state OR c.dt >= gap_s THEN c.gps_time
                WHEN c.day = c.prev_day THEN c.prev_time
                ELSE coalesce((SELECT y.state_since FROM tracksolid.vehicle_day_live y
                               WHERE y.day = c.prev_day AND y.imei = c.imei
                                 AND y.last_gps_time = c.prev_time AND y.last_state = c.state), c.prev_time) END
    FROM c
    ON CONFLICT (day, imei) DO UPDATE
    SET km             = r.km + EXCLUDED.km,
        moving_s       = r.moving_s + EXCLUDED.moving_s,
        idle_s         = r.idle_s + EXCLUDED.idle_s,
        parked_s       = r.parked_s + EXCLUDED.parked_s,
        fixes          = r.fixes + 1,
        first_moved_at = coalesce(r.first_moved_at, EXCLUDED.first_moved_at),
        last_moved_at  = coalesce(EXCLUDED.last_moved_at, r.last_moved_at),
        last_gps_time  = EXCLUDED.last_gps_time,
        last_state     = EXCLUDED.last_state,
        state_since    = CASE WHEN EXCLUDED.state_since = EXCLUDED.last_gps_time THEN EXCLUDED.state_since
                              WHEN r.last_state = EXCLUDED.last_state THEN r.state_since
                              ELSE EXCLUDED.state_since END,
        updated_at     = now();
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'vehicle_day_live not advanced (%): %', SQLSTATE, SQLERRM;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION tracksolid.vehicle_day_live_apply IS
    'Statement trigger of live_positions: advance tracksolid.vehicle_day_live by each (previous, new) live fix';

CREATE TRIGGER live_positions_day_live_insert AFTER INSERT ON tracksolid.live_positions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tracksolid.vehicle_day_live_apply();
CREATE TRIGGER live_positions_day_live_update AFTER UPDATE ON tracksolid.live_positions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tracksolid.vehicle_day_live_apply();

-- state_since: the rollup's when it describes the live fix, else the position_history walk of 0053.
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
       CASE WHEN st.state = 'offline' THEN lp.gps_time
            ELSE coalesce((SELECT r.state_since FROM tracksolid.vehicle_day_live r
                           WHERE r.day = tracksolid.local_day(lp.gps_time) AND r.imei = lp.imei
                             AND r.last_gps_time = lp.gps_time AND r.last_state = st.state),
                          tracksolid.state_since(lp.imei, lp.gps_time, st.state)) END AS state_since
FROM tracksolid.v_vehicles v
LEFT JOIN tracksolid.live_positions lp ON lp.imei = v.imei
CROSS JOIN LATERAL (
    SELECT tracksolid.vehicle_state(lp.gps_time, lp.speed_kmh, lp.acc_status, now(),
                                    (SELECT tracksolid.setting('moving_speed_kmh')),
                                    (SELECT tracksolid.setting('offline_gap_s'))) AS state) st
WHERE v.is_active;

-- Today per active vehicle, from the rollup (columns kept from 0051: tail_from = first fix today, tail_fixes =
-- fixes today, ongoing_idle_s = idle seconds today).
CREATE OR REPLACE VIEW tracksolid.v_today_tail AS
SELECT d.imei,
       tracksolid.local_day(now())              AS day,
       r.first_fix_at                           AS tail_from,
       coalesce(r.fixes, 0)::bigint             AS tail_fixes,
       coalesce(r.km, 0)::float8                AS km,
       coalesce(r.moving_s, 0)::float8          AS moving_s,
       coalesce(r.idle_s, 0)::float8            AS ongoing_idle_s
FROM tracksolid.devices d
LEFT JOIN tracksolid.vehicle_day_live r ON r.day = tracksolid.local_day(now()) AND r.imei = d.imei
WHERE d.is_active;
COMMENT ON VIEW tracksolid.v_today_tail IS
    'Per active vehicle today, from tracksolid.vehicle_day_live: first fix, fixes, km, moving and idle seconds';

-- Past days: API trips (km, driving) and the parking report (idle); today: the rollup. Trip counts and alarms
-- come from their tables on every day.
CREATE OR REPLACE VIEW tracksolid.v_vehicle_activity_daily AS
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
           CASE WHEN tracksolid.local_day(t.start_time) < tracksolid.local_day(now())
                THEN coalesce(t.distance_km, 0)::float8 ELSE 0 END AS km,
           CASE WHEN tracksolid.local_day(t.start_time) < tracksolid.local_day(now())
                THEN coalesce(t.run_time_s, extract(epoch FROM t.end_time - t.start_time), 0)::float8
                ELSE 0 END AS driving_s,
           0::float8 AS idle_s, 0 AS idle_spells, 0 AS alarms, 0 AS harsh_acceleration, 0 AS harsh_braking,
           0 AS sharp_turn, 0 AS overspeed, 0 AS aggression_events,
           t.start_time AS first_trip_at, t.end_time AS last_trip_end_at
    FROM tracksolid.trips t
    UNION ALL
    SELECT tracksolid.local_day(e.start_time), e.imei, 0, 0, 0,
           coalesce(e.duration_s, extract(epoch FROM e.end_time - e.start_time), 0)::float8, 1,
           0, 0, 0, 0, 0, 0, NULL, NULL
    FROM tracksolid.parking_events e
    WHERE e.acc_type = 'on' AND tracksolid.local_day(e.start_time) < tracksolid.local_day(now())
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
    'Vehicle x local day: trips, km, driving / idle seconds (past days: API trips + parking report; today: live rollup), alarms by class';

CREATE OR REPLACE VIEW tracksolid.v_fleet_today AS
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
       r.first_moved_at,
       (r.first_moved_at IS NOT NULL OR coalesce(a.trips, 0) > 0) AS moved_today
FROM tracksolid.v_vehicle_state_now s
LEFT JOIN (SELECT * FROM tracksolid.v_vehicle_activity_daily WHERE day = tracksolid.local_day(now())) a
       ON a.imei = s.imei
LEFT JOIN tracksolid.vehicle_day_live r ON r.day = tracksolid.local_day(now()) AND r.imei = s.imei;

CREATE VIEW tracksolid.v_fleet_today_by_city AS
SELECT f.day,
       coalesce(f.city, 'unassigned')                                AS city,
       count(*)::integer                                             AS vehicles,
       count(*) FILTER (WHERE f.state = 'moving')::integer           AS moving,
       count(*) FILTER (WHERE f.state = 'idle')::integer             AS idle,
       count(*) FILTER (WHERE f.state = 'parked')::integer           AS parked,
       count(*) FILTER (WHERE f.state = 'offline')::integer          AS offline,
       count(*) FILTER (WHERE f.moved_today)::integer                AS moved_today,
       count(*) FILTER (WHERE NOT f.moved_today)::integer            AS not_moved_today,
       sum(f.km)                                                     AS km,
       sum(f.trips)::integer                                         AS trips,
       sum(f.driving_s)                                              AS driving_s,
       sum(f.idle_s)                                                 AS idle_s,
       sum(f.alarms)::integer                                        AS alarms,
       sum(f.aggression_events)::integer                             AS aggression_events,
       avg(f.utilisation_pct)                                        AS utilisation_pct,
       sum(f.idle_cost)                                              AS idle_cost
FROM tracksolid.v_fleet_today f
GROUP BY f.day, coalesce(f.city, 'unassigned');
COMMENT ON VIEW tracksolid.v_fleet_today_by_city IS
    'Today per city: vehicles by state now, moved / not moved, km, trips, time, alarms, mean utilisation, idle cost';

-- A ticket meets its SLA when it is closed within sla_minutes of being opened; counted on its closing day.
CREATE VIEW tracksolid.v_sla_compliance_daily AS
SELECT tracksolid.local_day(tk.closed_at)                                        AS day,
       coalesce(v.city, tk.city, 'unassigned')                                   AS city,
       count(*)::integer                                                         AS tickets_closed,
       count(*) FILTER (WHERE tk.closed_at <= tk.opened_at + make_interval(mins => tk.sla_minutes))::integer
                                                                                 AS within_sla,
       round(100.0 * count(*) FILTER (
           WHERE tk.closed_at <= tk.opened_at + make_interval(mins => tk.sla_minutes)) / count(*), 2)
                                                                                 AS compliance_pct,
       avg(extract(epoch FROM tk.closed_at - tk.opened_at) / 60.0)               AS avg_resolution_min,
       avg(extract(epoch FROM dl.arrived_at - dl.dispatched_at) / 60.0)          AS avg_travel_min
FROM ops.tickets tk
LEFT JOIN LATERAL (
    SELECT d.imei, d.dispatched_at, d.arrived_at FROM tracksolid.dispatch_log d
    WHERE d.ticket_ref = tk.ticket_ref ORDER BY d.dispatched_at DESC, d.id DESC LIMIT 1) dl ON true
LEFT JOIN tracksolid.v_vehicles v ON v.imei = dl.imei
WHERE tk.closed_at IS NOT NULL
GROUP BY 1, 2;
COMMENT ON VIEW tracksolid.v_sla_compliance_daily IS
    'Per local closing day and city: tickets closed, closed within their SLA minutes, compliance %, mean times';

CREATE INDEX IF NOT EXISTS tickets_closed_local_day_idx ON ops.tickets (tracksolid.local_day(closed_at))
    WHERE closed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS dispatch_log_ticket_idx ON tracksolid.dispatch_log (ticket_ref, dispatched_at);

GRANT SELECT ON tracksolid.v_fleet_today_by_city, tracksolid.v_sla_compliance_daily TO grafana_ro;
REVOKE INSERT, UPDATE, DELETE ON tracksolid.v_fleet_today_by_city, tracksolid.v_sla_compliance_daily
    FROM tracksolid_owner;
