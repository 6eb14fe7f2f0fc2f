-- silver.rebuild_day(day): rebuild every silver table for one Africa/Nairobi local day, idempotently
-- (delete + insert inside the caller's transaction). The rules are ALGORITHMS.md's; thresholds come from
-- silver.setting(): per-vehicle override -> bronze.settings (the live copy) -> dwh_control.settings.

CREATE OR REPLACE FUNCTION silver.haversine_km(lat1 double precision, lng1 double precision,
                                               lat2 double precision, lng2 double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 2 * 6371.0088 * asin(least(1.0, sqrt(
        power(sin(radians(lat2 - lat1) / 2), 2)
        + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lng2 - lng1) / 2), 2))))
$$;
COMMENT ON FUNCTION silver.haversine_km IS 'Great-circle distance in km (mean Earth radius 6371.0088 km)';

CREATE OR REPLACE FUNCTION silver.setting(p_key text, p_imei text DEFAULT NULL)
RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT v.value FROM dwh_control.vehicle_settings v WHERE v.imei = p_imei AND v.key = p_key),
        (SELECT b.value FROM bronze.settings b WHERE b.key = p_key),
        (SELECT d.value FROM dwh_control.settings d WHERE d.key = p_key))
$$;
COMMENT ON FUNCTION silver.setting IS 'Threshold for a vehicle: override, else live setting, else warehouse default';

CREATE OR REPLACE FUNCTION silver.local_day_bounds(p_day date, OUT day_start timestamptz, OUT day_end timestamptz)
LANGUAGE sql IMMUTABLE AS $$
    -- Kenya and Uganda are both UTC+3 all year (no DST): one zone serves every vehicle.
    SELECT p_day::timestamp AT TIME ZONE 'Africa/Nairobi', (p_day + 1)::timestamp AT TIME ZONE 'Africa/Nairobi'
$$;

CREATE OR REPLACE FUNCTION silver.rebuild_day(p_day date)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    day_start  timestamptz;
    day_end    timestamptz;
    ctx        interval;     -- context read on both sides of the day: state at midnight, trips across it
    future_tol interval;
    t_begin    timestamptz := clock_timestamp();
    built      timestamptz;
    n_dev      integer;
    n_fix      bigint;
    n_seg      integer;
    n_trip     integer;
BEGIN
    IF p_day IS NULL THEN
        RAISE EXCEPTION 'silver.rebuild_day: day must not be NULL';
    END IF;
    SELECT b.day_start, b.day_end INTO day_start, day_end FROM silver.local_day_bounds(p_day) b;
    -- Bronze loads of silver's inputs hold this lock exclusively: once we hold it shared, every row we cannot
    -- see will carry a _loaded_at later than `built`, so the day shows up as stale and is rebuilt.
    PERFORM pg_advisory_xact_lock_shared(hashtext('fleet.dwh.silver_inputs'));
    PERFORM pg_advisory_xact_lock(hashtext('fleet.dwh.silver_day'), p_day - date '2000-01-01');
    built := clock_timestamp();

    SELECT make_interval(secs => greatest(3 * 3600, max(v)))
    INTO ctx
    FROM (SELECT value AS v FROM dwh_control.vehicle_settings WHERE key IN ('offline_gap_s', 'trip_gap_s')
          UNION ALL SELECT silver.setting('offline_gap_s')) s;
    future_tol := make_interval(secs => coalesce(silver.setting('future_tolerance_s'), 86400));

    IF to_regclass('pg_temp.rb_raw') IS NOT NULL THEN  -- a second day rebuilt in the same transaction
        DROP TABLE pg_temp.rb_raw, pg_temp.rb_dev, pg_temp.rb_seq, pg_temp.rb_runs, pg_temp.rb_seg;
    END IF;

    CREATE TEMP TABLE rb_raw ON COMMIT DROP AS
    SELECT p.imei, p.gps_time, p.lat, p.lng, coalesce(p.speed_kmh, 0)::float8 AS speed, p.acc_status,
           p.gps_mode, p.odometer_km
    FROM bronze.position_history p
    WHERE p.gps_time >= day_start - ctx AND p.gps_time < day_end + ctx;

    -- Devices of the day: every active device (one offline segment when silent) and any that sent fixes.
    CREATE TEMP TABLE rb_dev ON COMMIT DROP AS
    WITH ids AS (
        SELECT imei FROM bronze.devices WHERE is_active IS NOT FALSE
        UNION
        SELECT DISTINCT imei FROM rb_raw WHERE gps_time >= day_start AND gps_time < day_end)
    SELECT imei,
           silver.setting('moving_speed_kmh', imei)::float8                  AS moving_kmh,
           make_interval(secs => silver.setting('offline_gap_s', imei))      AS offline_gap,
           make_interval(secs => silver.setting('min_stop_s', imei))         AS min_stop,
           make_interval(secs => silver.setting('min_idle_s', imei))         AS min_idle,
           make_interval(secs => silver.setting('trip_gap_s', imei))         AS trip_gap,
           silver.setting('min_trip_s', imei)                                AS min_trip_s,
           silver.setting('min_trip_max_speed_kmh', imei)::float8            AS min_trip_speed,
           silver.setting('min_trip_km', imei)::float8                       AS min_trip_km,
           make_interval(secs => silver.setting('trip_finalise_after_s', imei)) AS finalise_after,
           silver.setting('overspeed_kmh', imei)                             AS overspeed_kmh,
           silver.setting('max_jump_kmh', imei)::float8                      AS max_jump_kmh
    FROM ids;
    IF EXISTS (SELECT 1 FROM rb_dev WHERE moving_kmh IS NULL OR offline_gap IS NULL OR min_stop IS NULL
               OR min_idle IS NULL OR trip_gap IS NULL OR max_jump_kmh IS NULL OR overspeed_kmh IS NULL) THEN
        RAISE EXCEPTION 'silver.rebuild_day: a threshold is missing from dwh_control.settings';
    END IF;
    ANALYZE rb_dev;

    -- Cleaned fixes with their neighbours. Filters: (0,0) and out-of-range coordinates, fixes in the future,
    -- and spikes: a fix whose jumps from the previous AND to the next fix both imply > max_jump_kmh
    -- (a single outlier is dropped, the good fixes around it are kept). Duplicate timestamps cannot exist
    -- (the key is (imei, gps_time)).
    CREATE TEMP TABLE rb_seq ON COMMIT DROP AS
    WITH valid AS (
        SELECT r.* FROM rb_raw r
        WHERE r.lat BETWEEN -90 AND 90 AND r.lng BETWEEN -180 AND 180 AND NOT (r.lat = 0 AND r.lng = 0)
          AND r.gps_time <= now() + future_tol),
    jumps AS (
        -- Implied speeds use the equirectangular distance (plenty for a 250 km/h test, much cheaper).
        SELECT v.*,
               111.195 * sqrt(power(v.lat - lag(v.lat) OVER w, 2)
                              + power((v.lng - lag(v.lng) OVER w) * cos(radians(v.lat)), 2)) * 3600
                   / nullif(date_part('epoch', v.gps_time - lag(v.gps_time) OVER w), 0)  AS kmh_in,
               111.195 * sqrt(power(lead(v.lat) OVER w - v.lat, 2)
                              + power((lead(v.lng) OVER w - v.lng) * cos(radians(v.lat)), 2)) * 3600
                   / nullif(date_part('epoch', lead(v.gps_time) OVER w - v.gps_time), 0) AS kmh_out
        FROM valid v
        WINDOW w AS (PARTITION BY v.imei ORDER BY v.gps_time)),
    kept AS (
        SELECT j.imei, j.gps_time, j.lat, j.lng, j.speed, j.acc_status, j.gps_mode, j.odometer_km,
               CASE WHEN j.acc_status IS FALSE THEN 'parked'
                    WHEN j.speed > d.moving_kmh THEN 'moving'
                    WHEN j.acc_status THEN 'idle'
                    ELSE 'parked' END AS point_state   -- no ACC data: stationary counts as parked
        FROM jumps j JOIN rb_dev d USING (imei)
        WHERE NOT coalesce(coalesce(j.kmh_in, j.kmh_out) > d.max_jump_kmh
                           AND coalesce(j.kmh_out, j.kmh_in) > d.max_jump_kmh, false))
    SELECT k.*,
           lag(k.gps_time) OVER w  AS prev_time,
           lead(k.gps_time) OVER w AS next_time,
           lead(k.lat) OVER w      AS next_lat,
           lead(k.lng) OVER w      AS next_lng,
           coalesce(silver.haversine_km(k.lat, k.lng, lead(k.lat) OVER w, lead(k.lng) OVER w), 0) AS km_to_next
    FROM kept k
    WINDOW w AS (PARTITION BY k.imei ORDER BY k.gps_time);

    DELETE FROM silver.fixes WHERE local_day = p_day;
    DELETE FROM silver.segments WHERE local_day = p_day;
    DELETE FROM silver.trips WHERE local_day = p_day;
    DELETE FROM silver.stops WHERE local_day = p_day;
    DELETE FROM silver.idle_spells WHERE local_day = p_day;
    DELETE FROM silver.geofence_visits WHERE local_day = p_day;
    DELETE FROM silver.overspeed_events WHERE local_day = p_day;
    DELETE FROM silver.device_days WHERE local_day = p_day;

    INSERT INTO silver.fixes (imei, gps_time, local_day, lat, lng, speed_kmh, acc_status, gps_mode, odometer_km,
                              point_state)
    SELECT imei, gps_time, p_day, lat, lng, speed, acc_status, gps_mode, odometer_km, point_state
    FROM rb_seq WHERE gps_time >= day_start AND gps_time < day_end;
    GET DIAGNOSTICS n_fix = ROW_COUNT;

    -- 1. Intervals: each fix holds its state until the next fix; a gap >= offline_gap (or no next fix) is
    --    offline; before the first fix the device is offline. Clipped to the day, they tile it exactly.
    --    Distance is credited to the day of the interval's first fix, never across a gap.
    -- 2. Runs of equal state (islands). 3. Parked / idle runs shorter than min_stop / min_idle take the state
    --    of the kept run before them (else after them; never offline). 4. Runs of equal state again = segments.
    CREATE TEMP TABLE rb_runs ON COMMIT DROP AS
    WITH intervals AS (
        SELECT s.imei,
               greatest(s.gps_time, day_start)                               AS s0,
               least(coalesce(s.next_time, 'infinity'), day_end)             AS s1,
               CASE WHEN s.next_time IS NULL OR s.next_time - s.gps_time >= d.offline_gap THEN 'offline'
                    ELSE s.point_state END                                   AS state,
               s.gps_time >= day_start                                       AS fix_in_day,
               s.speed, s.lat, s.lng, s.next_lat, s.next_lng,
               CASE WHEN s.next_time - s.gps_time < d.offline_gap AND s.gps_time >= day_start
                    THEN s.km_to_next ELSE 0 END                             AS km
        FROM rb_seq s JOIN rb_dev d USING (imei)
        WHERE s.gps_time < day_end AND coalesce(s.next_time, 'infinity') > day_start
        UNION ALL
        SELECT d.imei, day_start, least(coalesce(f.first_time, 'infinity'), day_end), 'offline', false,
               NULL, NULL, NULL, NULL, NULL, 0
        FROM rb_dev d LEFT JOIN (SELECT imei, min(gps_time) AS first_time FROM rb_seq GROUP BY imei) f USING (imei)
        WHERE coalesce(f.first_time, 'infinity') > day_start),
    flagged AS (
        SELECT i.*,
               CASE WHEN i.state IS DISTINCT FROM lag(i.state) OVER w THEN 1 ELSE 0 END AS first_of_run,
               CASE WHEN i.state IS DISTINCT FROM lead(i.state) OVER w THEN 1 ELSE 0 END AS last_of_run
        FROM intervals i
        WINDOW w AS (PARTITION BY i.imei ORDER BY i.s0)),
    numbered AS (
        SELECT f.*, sum(f.first_of_run) OVER (PARTITION BY f.imei ORDER BY f.s0 ROWS UNBOUNDED PRECEDING) AS run_no
        FROM flagged f)
    SELECT imei, run_no, min(state) AS state, min(s0) AS s0, max(s1) AS s1,
           count(*) FILTER (WHERE fix_in_day)                    AS fix_count,
           sum(km)                                               AS km,
           max(speed) FILTER (WHERE fix_in_day)                  AS max_speed,
           max(lat) FILTER (WHERE first_of_run = 1)              AS start_lat,
           max(lng) FILTER (WHERE first_of_run = 1)              AS start_lng,
           max(coalesce(next_lat, lat)) FILTER (WHERE last_of_run = 1) AS end_lat,
           max(coalesce(next_lng, lng)) FILTER (WHERE last_of_run = 1) AS end_lng
    FROM numbered
    GROUP BY imei, run_no;

    CREATE TEMP TABLE rb_seg ON COMMIT DROP AS
    WITH r AS (
        SELECT r.*, (r.state IN ('moving', 'offline')
                     OR (r.state = 'parked' AND r.s1 - r.s0 >= d.min_stop)
                     OR (r.state = 'idle' AND r.s1 - r.s0 >= d.min_idle)) AS kept
        FROM rb_runs r JOIN rb_dev d USING (imei)),
    g AS (
        SELECT r.*,
               count(*) FILTER (WHERE r.kept) OVER (PARTITION BY r.imei ORDER BY r.s0)      AS grp_prev,
               count(*) FILTER (WHERE r.kept) OVER (PARTITION BY r.imei ORDER BY r.s0 DESC) AS grp_next
        FROM r),
    n AS (
        SELECT g.*,
               first_value(g.state) OVER (PARTITION BY g.imei, g.grp_prev ORDER BY g.s0)      AS prev_state,
               first_value(g.state) OVER (PARTITION BY g.imei, g.grp_next ORDER BY g.s0 DESC) AS next_state
        FROM g),
    relabelled AS (
        SELECT n.*,
               CASE WHEN n.kept THEN n.state
                    WHEN n.grp_prev > 0 AND n.prev_state <> 'offline' THEN n.prev_state
                    WHEN n.grp_next > 0 AND n.next_state <> 'offline' THEN n.next_state
                    ELSE n.state END AS new_state
        FROM n),
    flagged AS (
        SELECT x.*,
               CASE WHEN x.new_state IS DISTINCT FROM lag(x.new_state) OVER w THEN 1 ELSE 0 END AS first_of_seg,
               CASE WHEN x.new_state IS DISTINCT FROM lead(x.new_state) OVER w THEN 1 ELSE 0 END AS last_of_seg
        FROM relabelled x
        WINDOW w AS (PARTITION BY x.imei ORDER BY x.s0)),
    numbered AS (
        SELECT f.*, sum(f.first_of_seg) OVER (PARTITION BY f.imei ORDER BY f.s0 ROWS UNBOUNDED PRECEDING) AS seg_no
        FROM flagged f)
    SELECT imei, seg_no, min(new_state) AS state, min(s0) AS started_at, max(s1) AS ended_at,
           sum(fix_count)::integer AS fix_count, sum(km) AS distance_km, max(max_speed) AS max_speed_kmh,
           max(start_lat) FILTER (WHERE first_of_seg = 1) AS start_lat,
           max(start_lng) FILTER (WHERE first_of_seg = 1) AS start_lng,
           max(end_lat) FILTER (WHERE last_of_seg = 1)    AS end_lat,
           max(end_lng) FILTER (WHERE last_of_seg = 1)    AS end_lng
    FROM numbered
    GROUP BY imei, seg_no;

    INSERT INTO silver.segments (imei, started_at, ended_at, local_day, state, duration_s, fix_count, distance_km,
                                 max_speed_kmh, start_lat, start_lng, end_lat, end_lng)
    SELECT imei, started_at, ended_at, p_day, state, extract(epoch FROM ended_at - started_at), fix_count,
           distance_km, max_speed_kmh, start_lat, start_lng, end_lat, end_lng
    FROM rb_seg;
    GET DIAGNOSTICS n_seg = ROW_COUNT;

    INSERT INTO silver.stops (imei, started_at, ended_at, local_day, duration_s, lat, lng)
    SELECT imei, started_at, ended_at, p_day, extract(epoch FROM ended_at - started_at), start_lat, start_lng
    FROM rb_seg WHERE state = 'parked';

    INSERT INTO silver.idle_spells (imei, started_at, ended_at, local_day, duration_s, lat, lng)
    SELECT imei, started_at, ended_at, p_day, extract(epoch FROM ended_at - started_at), start_lat, start_lng
    FROM rb_seg WHERE state = 'idle';

    -- Trips from the fixes: runs of moving / stationary fixes (a gap >= trip_gap also starts a run). A trip
    -- starts at a moving run that follows nothing, a gap, or a *breaking* stationary run (ACC off, a gap, or
    -- lasting >= min_stop). The stationary tail is trimmed: the trip ends where its last moving interval ends,
    -- i.e. at the first fix after the last moving fix (where the vehicle was found stopped, as in the
    -- segments), or at the last moving fix itself when a gap >= trip_gap follows it.
    WITH m AS (
        SELECT s.imei, s.gps_time, s.lat, s.lng, s.speed, s.acc_status, s.next_time, s.km_to_next,
               s.next_lat, s.next_lng, d.trip_gap,
               s.point_state = 'moving' AS mv,
               (s.prev_time IS NULL OR s.gps_time - s.prev_time >= d.trip_gap) AS gap_before
        FROM rb_seq s JOIN rb_dev d USING (imei)),
    b AS (
        SELECT m.*, CASE WHEN m.gap_before OR m.mv IS DISTINCT FROM lag(m.mv) OVER w THEN 1 ELSE 0 END AS brk
        FROM m WINDOW w AS (PARTITION BY m.imei ORDER BY m.gps_time)),
    nb AS (
        SELECT b.*,
               sum(b.brk) OVER w AS run_no,
               coalesce(lead(b.brk) OVER w, 1) = 1 AS last_in_run
        FROM b WINDOW w AS (PARTITION BY b.imei ORDER BY b.gps_time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
    runs AS (
        SELECT imei, run_no, bool_and(mv) AS mv, min(gps_time) AS t_first, max(gps_time) AS t_last,
               max(coalesce(next_time, 'infinity')) AS t_next,
               bool_or(acc_status IS FALSE) AS acc_off, bool_or(gap_before) AS gap_first,
               count(*) AS fixes, sum(km_to_next) AS km_all,
               max(km_to_next) FILTER (WHERE last_in_run) AS km_last,
               max(speed) AS max_speed,
               max(lat) FILTER (WHERE brk = 1) AS first_lat, max(lng) FILTER (WHERE brk = 1) AS first_lng,
               max(lat) FILTER (WHERE last_in_run) AS last_lat, max(lng) FILTER (WHERE last_in_run) AS last_lng,
               max(next_lat) FILTER (WHERE last_in_run) AS next_lat,
               max(next_lng) FILTER (WHERE last_in_run) AS next_lng,
               bool_or(next_time - gps_time < trip_gap) FILTER (WHERE last_in_run) AS runs_on
        FROM nb GROUP BY imei, run_no),
    flagged AS (
        SELECT r.*, d.min_stop,
               CASE WHEN r.mv AND (lag(r.run_no) OVER w IS NULL OR r.gap_first
                                   OR lag(NOT r.mv AND (r.acc_off OR r.gap_first OR r.t_next - r.t_first >= d.min_stop))
                                      OVER w)
                    THEN 1 ELSE 0 END AS new_trip
        FROM runs r JOIN rb_dev d USING (imei)
        WINDOW w AS (PARTITION BY r.imei ORDER BY r.run_no)),
    numbered AS (
        SELECT f.*, sum(f.new_trip) OVER (PARTITION BY f.imei ORDER BY f.run_no) AS trip_no FROM flagged f),
    bounded AS (
        SELECT x.*, max(x.run_no) FILTER (WHERE x.mv) OVER (PARTITION BY x.imei, x.trip_no) AS last_moving_run
        FROM numbered x WHERE x.trip_no > 0),
    trips AS (
        SELECT imei, trip_no,
               min(t_first) AS start_time,
               max(CASE WHEN runs_on THEN t_next ELSE t_last END) FILTER (WHERE run_no = last_moving_run)
                   AS end_time,
               sum(fixes) AS fix_count,
               sum(km_all) - max(CASE WHEN runs_on THEN 0 ELSE km_last END) FILTER (WHERE run_no = last_moving_run)
                   AS distance_km,
               max(max_speed) AS max_speed_kmh,
               max(first_lat) FILTER (WHERE new_trip = 1) AS start_lat,
               max(first_lng) FILTER (WHERE new_trip = 1) AS start_lng,
               max(CASE WHEN runs_on THEN next_lat ELSE last_lat END) FILTER (WHERE run_no = last_moving_run)
                   AS end_lat,
               max(CASE WHEN runs_on THEN next_lng ELSE last_lng END) FILTER (WHERE run_no = last_moving_run)
                   AS end_lng
        FROM bounded WHERE run_no <= last_moving_run
        GROUP BY imei, trip_no)
    INSERT INTO silver.trips (imei, start_time, end_time, local_day, duration_s, distance_km, max_speed_kmh,
                              avg_speed_kmh, fix_count, start_lat, start_lng, end_lat, end_lng)
    SELECT t.imei, t.start_time, t.end_time, p_day, extract(epoch FROM t.end_time - t.start_time), t.distance_km,
           t.max_speed_kmh, t.distance_km * 3600 / extract(epoch FROM t.end_time - t.start_time), t.fix_count,
           t.start_lat, t.start_lng, t.end_lat, t.end_lng
    FROM trips t JOIN rb_dev d USING (imei)
    WHERE t.start_time >= day_start AND t.start_time < day_end
      AND t.fix_count >= 2
      AND extract(epoch FROM t.end_time - t.start_time) >= d.min_trip_s
      AND (t.max_speed_kmh >= d.min_trip_speed OR t.distance_km >= d.min_trip_km)
      AND t.end_time <= now() - d.finalise_after;   -- in progress: not final yet (no fragmenting)
    GET DIAGNOSTICS n_trip = ROW_COUNT;

    -- Overspeed from positions: >= 2 consecutive fixes over the vehicle's limit, by day of the first fix.
    WITH o AS (
        SELECT s.imei, s.gps_time, s.speed, d.overspeed_kmh, s.speed > d.overspeed_kmh AS over
        FROM rb_seq s JOIN rb_dev d USING (imei)),
    b AS (
        SELECT o.*, CASE WHEN o.over IS DISTINCT FROM lag(o.over) OVER w THEN 1 ELSE 0 END AS brk
        FROM o WINDOW w AS (PARTITION BY o.imei ORDER BY o.gps_time)),
    nb AS (
        SELECT b.*, sum(b.brk) OVER (PARTITION BY b.imei ORDER BY b.gps_time ROWS UNBOUNDED PRECEDING) AS run_no
        FROM b)
    INSERT INTO silver.overspeed_events (imei, started_at, ended_at, local_day, fix_count, max_speed_kmh, limit_kmh)
    SELECT imei, min(gps_time), max(gps_time), p_day, count(*), max(speed), min(overspeed_kmh)
    FROM nb WHERE over
    GROUP BY imei, run_no
    HAVING count(*) >= 2 AND min(gps_time) >= day_start AND min(gps_time) < day_end;

    -- Geofence visits: consecutive segments whose start point lies in the same geofence.
    WITH sp AS (
        SELECT s.*, row_number() OVER (PARTITION BY s.imei ORDER BY s.started_at) AS ord
        FROM rb_seg s),
    inside AS (
        SELECT sp.imei, sp.ord, sp.started_at, sp.ended_at, g.id, g.name, g.kind
        FROM sp JOIN bronze.geofences g
          ON ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(sp.start_lng, sp.start_lat), 4326))
        WHERE sp.state <> 'offline' AND sp.start_lat IS NOT NULL),
    grouped AS (
        SELECT i.*, i.ord - row_number() OVER (PARTITION BY i.imei, i.id ORDER BY i.ord) AS visit
        FROM inside i)
    INSERT INTO silver.geofence_visits (imei, geofence_id, entered_at, exited_at, local_day, geofence_name,
                                        geofence_kind, dwell_s, segment_count)
    SELECT imei, id, min(started_at), max(ended_at), p_day, min(name), min(kind),
           extract(epoch FROM max(ended_at) - min(started_at)), count(*)
    FROM grouped GROUP BY imei, id, visit;

    WITH raw_counts AS (
        SELECT imei, count(*) AS fixes_raw FROM rb_raw
        WHERE gps_time >= day_start AND gps_time < day_end GROUP BY imei),
    odo AS (
        SELECT imei, gps_time, odometer_km, lag(odometer_km) OVER (PARTITION BY imei ORDER BY gps_time) AS prev_km
        FROM rb_seq WHERE gps_time >= day_start AND gps_time < day_end AND odometer_km IS NOT NULL),
    odo_day AS (
        SELECT imei,
               (array_agg(odometer_km ORDER BY gps_time))[1]      AS odo_start,
               (array_agg(odometer_km ORDER BY gps_time DESC))[1] AS odo_end,
               bool_and(prev_km IS NULL OR odometer_km >= prev_km) AS monotonic
        FROM odo GROUP BY imei),
    kept AS (
        SELECT imei, count(*) AS fixes_kept FROM rb_seq
        WHERE gps_time >= day_start AND gps_time < day_end GROUP BY imei)
    INSERT INTO silver.device_days (imei, local_day, fixes_raw, fixes_kept, odometer_start_km, odometer_end_km,
                                    odometer_monotonic)
    SELECT d.imei, p_day, coalesce(r.fixes_raw, 0), coalesce(k.fixes_kept, 0), o.odo_start, o.odo_end, o.monotonic
    FROM rb_dev d
    LEFT JOIN raw_counts r USING (imei) LEFT JOIN kept k USING (imei) LEFT JOIN odo_day o USING (imei);

    SELECT count(*) INTO n_dev FROM rb_dev;
    INSERT INTO silver.day_builds (local_day, built_at, devices, fixes_kept, segments, trips, duration_ms)
    VALUES (p_day, built, n_dev, n_fix, n_seg, n_trip,
            (extract(epoch FROM clock_timestamp() - t_begin) * 1000)::integer)
    ON CONFLICT (local_day) DO UPDATE
        SET built_at = EXCLUDED.built_at, devices = EXCLUDED.devices, fixes_kept = EXCLUDED.fixes_kept,
            segments = EXCLUDED.segments, trips = EXCLUDED.trips, duration_ms = EXCLUDED.duration_ms;

    RETURN jsonb_build_object('day', p_day, 'devices', n_dev, 'fixes', n_fix, 'segments', n_seg, 'trips', n_trip);
END;
$$;
-- Window functions sort a day of fixes several times: sorting in memory instead of on disk is most of the cost.
ALTER FUNCTION silver.rebuild_day(date) SET work_mem = '256MB';
COMMENT ON FUNCTION silver.rebuild_day IS
    'Rebuild silver fixes/segments/trips/stops/idle spells/geofence visits/overspeed events for one local day';
