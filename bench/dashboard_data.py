"""Synthetic fleet for the dashboard benchmark, generated server-side (generate_series), fast.

Live database: ``devices`` vehicles (70 % Nairobi, 15 % Mombasa, 15 % Kampala; every 10th without a driver),
today's history for all of them and ``days`` finished local days of history for the first ``history_devices``.
A vehicle's day: parked overnight with a fix every 30 min; two shifts (08:00 and 14:00 EAT + v mod 60 min; today
moved earlier so that they have ended by now when the hour allows), each 5 min idling then 145 min moving, one fix
every 30 s; one API trip per shift, parking (ACC off) and idling (ACC
on) reports between, three alarms a day. Fixes are stored in time order (as they arrive); ``geom`` and ``raw``
stay NULL (no dashboard reads them, and narrower rows make the baseline scan faster, i.e. the ratios stricter).
Every 97th vehicle has no fix today (offline / silent). Plus a day of ``ingestion_log`` and ``push_inbox``, open
tickets with dispatches. Warehouse: gold vehicle-days for 91 days of the history vehicles, their silver
segments for the history days, day builds, extract runs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

EAT = timezone(timedelta(hours=3))
IMEI0 = 880000000000000

DEVICES_SQL = """
INSERT INTO tracksolid.devices (imei, account, device_name, mc_type, license_plate_no, driver_name, fuel_100km,
                                assigned_city, is_active, current_mileage_km)
SELECT (%(imei0)s + v)::text, 'acct' || (v %% 10), 'Vehicle ' || lpad(v::text, 5, '0'),
       (ARRAY['AT4', 'JC400P', 'X3', 'GT06E'])[1 + v %% 4],
       'K' || chr(65 + v %% 26) || chr(65 + (v / 26) %% 26) || ' ' || lpad((v %% 1000)::text, 3, '0'),
       CASE WHEN v %% 10 = 9 THEN NULL ELSE 'Driver ' || v END, 9.5,
       CASE WHEN v %% 20 < 14 THEN 'Nairobi' WHEN v %% 20 < 17 THEN 'Mombasa' ELSE 'Kampala' END, true,
       10000 + v
FROM generate_series(0, %(devices)s - 1) v
"""

# One local day of fixes for vehicles [0, vehicles): only fixes before %(now)s. Ordered by time (arrival).
FIXES_SQL = """
INSERT INTO tracksolid.position_history (imei, gps_time, lat, lng, speed_kmh, direction, acc_status, gps_mode,
                                         source, ingested_at)
SELECT (%(imei0)s + v)::text, t,
       base_lat + 0.04 * sin((k + v * 37) / 200.0), base_lng + 0.04 * cos((k + v * 37) / 200.0),
       speed, (k * 7 + v) %% 360, acc, 0, 'push', t + interval '2 seconds'
FROM (
    SELECT v, k, t, speed, acc,
           CASE WHEN v %% 20 < 14 THEN -1.28 WHEN v %% 20 < 17 THEN -4.05 ELSE 0.32 END AS base_lat,
           CASE WHEN v %% 20 < 14 THEN 36.82 WHEN v %% 20 < 17 THEN 39.66 ELSE 32.58 END AS base_lng
    FROM generate_series(0, %(vehicles)s - 1) v
    CROSS JOIN LATERAL (
        SELECT k, %(day_start)s::timestamptz + make_interval(mins => s + v %% 60, secs => 30 * k) AS t,
               CASE WHEN k < 10 THEN 0 ELSE 20 + (k * 13 + v) %% 50 END::numeric AS speed, true AS acc
        FROM (VALUES (%(s1)s), (%(s2)s)) shifts(s), generate_series(0, 299) k
        UNION ALL
        SELECT 1000 + h, %(day_start)s::timestamptz + make_interval(mins => 30 * h + v %% 30), 0, false
        FROM generate_series(0, 47) h
        WHERE (30 * h + v %% 30) NOT BETWEEN %(s1)s - 10 AND %(s1)s + 220
          AND (30 * h + v %% 30) NOT BETWEEN %(s2)s - 10 AND %(s2)s + 220
    ) f
    WHERE v %% 97 <> 0 OR %(day_start)s::timestamptz < %(today_start)s::timestamptz
) g
WHERE t < %(now)s
ORDER BY t
"""

# API trips, parking (off) / idling (on) reports and alarms of one day, for reports finished before now.
EVENTS_SQL = """
INSERT INTO tracksolid.trips (imei, start_time, end_time, start_lat, start_lng, end_lat, end_lng, distance_km,
                              avg_speed_kmh, run_time_s, source)
SELECT (%(imei0)s + v)::text, st, st + interval '4350 seconds', -1.28, 36.82, -1.29, 36.83,
       40 + (v %% 30), 35, 4350, 'poll'
FROM generate_series(0, %(vehicles)s - 1) v,
     LATERAL (SELECT %(day_start)s::timestamptz + make_interval(mins => s + v %% 60, secs => 300) AS st
              FROM (VALUES (%(s1)s), (%(s2)s)) shifts(s)) x
WHERE st + interval '4350 seconds' < %(now)s AND (v %% 97 <> 0 OR %(day_start)s::timestamptz < %(today_start)s);

INSERT INTO tracksolid.parking_events (imei, start_time, acc_type, end_time, duration_s, lat, lng)
SELECT (%(imei0)s + v)::text, st, acc, st + make_interval(secs => dur), dur, -1.28, 36.82
FROM generate_series(0, %(vehicles)s - 1) v,
     LATERAL (SELECT %(day_start)s::timestamptz + make_interval(mins => s + v %% 60) AS st, 'on' AS acc, 300 AS dur
              FROM (VALUES (%(s1)s), (%(s2)s)) shifts(s)
              UNION ALL
              SELECT %(day_start)s::timestamptz + make_interval(mins => %(s1)s + 150 + v %% 60), 'off', 600) x
WHERE st + make_interval(secs => dur) < %(now)s AND (v %% 97 <> 0 OR %(day_start)s::timestamptz < %(today_start)s);

INSERT INTO tracksolid.alarms (imei, alarm_type, alarm_time, alarm_name, lat, lng, speed_kmh, source)
SELECT (%(imei0)s + v)::text, typ, at, name, -1.28, 36.82, 45, 'push'
FROM generate_series(0, %(vehicles)s - 1) v,
     LATERAL (SELECT %(day_start)s::timestamptz + make_interval(mins => m + v %% 60) AS at, typ, name
              FROM (VALUES (500, '41', 'Sudden acceleration'), (600, '48', 'Sudden braking'),
                           (900, '6', 'Overspeed')) a(m, typ, name)) x
WHERE at < %(now)s AND (v %% 97 <> 0 OR %(day_start)s::timestamptz < %(today_start)s);
"""

LIVE_POSITIONS_SQL = """
INSERT INTO tracksolid.live_positions (imei, gps_time, lat, lng, speed_kmh, direction, acc_status, source)
SELECT DISTINCT ON (imei) imei, gps_time, lat, lng, speed_kmh, direction, acc_status, source
FROM tracksolid.position_history
WHERE gps_time >= %(since)s
ORDER BY imei, gps_time DESC
"""

PIPELINE_SQL = """
INSERT INTO tracksolid.ingestion_log (logged_at, dag_id, run_id, task_id, map_index, method, target, imei_count,
                                      http_status, api_code, row_count, duration_ms, error)
SELECT %(now)s::timestamptz - make_interval(secs => i * 86400.0 / %(calls)s), 'tracksolid_bench', 'run', 'fetch',
       i %% 200, (ARRAY['jimi.user.device.location.list', 'jimi.device.track.list', 'jimi.device.track.mileage',
                        'jimi.open.platform.report.parking', 'jimi.device.alarm.list'])[1 + i %% 5],
       'acct' || (i %% 10), 50, CASE WHEN i %% 500 = 0 THEN 503 ELSE 200 END,
       CASE WHEN i %% 500 = 0 THEN NULL ELSE '0' END, 50, 100 + (i * 37) %% 900,
       CASE WHEN i %% 500 = 0 THEN 'HTTP 503' END
FROM generate_series(1, %(calls)s) i;

INSERT INTO tracksolid.push_inbox (received_at, path, push_format, payload_sha256, payload, item_count, status,
                                   processed_at)
SELECT %(now)s::timestamptz - make_interval(secs => i * 86400.0 / %(pushes)s),
       (ARRAY['/pushgps', '/pushalarm', '/pushhb', '/pushobd'])[1 + i %% 4], 'iothub',
       md5(i::text) || md5((-i)::text), '{}'::jsonb, 50, 'processed',
       %(now)s::timestamptz - make_interval(secs => i * 86400.0 / %(pushes)s) + interval '40 milliseconds'
FROM generate_series(1, %(pushes)s) i;

INSERT INTO ops.tickets (ticket_ref, customer, city, lat, lng, opened_at, sla_minutes)
SELECT 'B-' || i, 'Customer ' || (i %% 40), 'Nairobi', -1.28 + i * 1e-4, 36.82,
       %(now)s::timestamptz - make_interval(mins => i), 240
FROM generate_series(1, 200) i;
INSERT INTO tracksolid.dispatch_log (ticket_ref, imei, dispatched_at)
SELECT 'B-' || i, (%(imei0)s + i * 7)::text, %(now)s::timestamptz - make_interval(mins => i - 1)
FROM generate_series(1, 200) i;
"""


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), EAT)


def shifts(day: date, now: datetime) -> tuple[int, int]:
    """Shift starts in minutes after local midnight: 08:00 and 14:00 on finished days; today, both moved early
    enough to have ended by ``now`` when the hour allows, so "today" holds a working day whatever the clock."""
    if day < now.astimezone(EAT).date():
        return 480, 840
    local = now.astimezone(EAT)
    now_min = local.hour * 60 + local.minute
    first = max(0, min(480, now_min - 330))
    return first, max(first + 170, min(840, now_min - 160))


def fill_live(conn, *, devices: int, history_devices: int, days: int, now: datetime) -> dict:
    """Fill an empty migrated live database; returns counts and the days generated."""
    today = now.astimezone(EAT).date()
    common = {"imei0": IMEI0, "now": now, "today_start": day_start(today)}
    with conn.cursor() as cur:
        cur.execute(DEVICES_SQL, {**common, "devices": devices})
        cur.execute("ALTER TABLE tracksolid.position_history DROP CONSTRAINT position_history_pkey")
        cur.execute("DROP INDEX IF EXISTS tracksolid.position_history_ingested_at_idx")
        for offset in range(days, -1, -1):
            day = today - timedelta(days=offset)
            s1, s2 = shifts(day, now)
            params = {**common, "day_start": day_start(day), "s1": s1, "s2": s2,
                      "vehicles": devices if offset == 0 else history_devices}
            cur.execute(FIXES_SQL, params)
            cur.execute(EVENTS_SQL, params)
        cur.execute("ALTER TABLE tracksolid.position_history ADD PRIMARY KEY (imei, gps_time)")
        cur.execute("CREATE INDEX position_history_ingested_at_idx ON tracksolid.position_history (ingested_at)")
        cur.execute(LIVE_POSITIONS_SQL, {"since": day_start(today - timedelta(days=days))})
        cur.execute(PIPELINE_SQL, {**common, "calls": max(1000, devices * 10), "pushes": max(500, devices * 5)})
        cur.execute("VACUUM ANALYZE" if conn.autocommit else "ANALYZE")
        cur.execute("SELECT count(*) FROM tracksolid.position_history")
        fixes = cur.fetchone()[0]
    return {"fixes": fixes, "today": today, "yesterday": today - timedelta(days=1)}


GOLD_SQL = """
INSERT INTO bronze.devices (imei, device_name, license_plate_no, driver_name, assigned_city, account, is_active,
                            current_mileage_km, fuel_100km, _run_id, _loaded_at)
SELECT imei, device_name, license_plate_no, driver_name, assigned_city, account, true, current_mileage_km,
       fuel_100km, 'bench', now()
FROM (SELECT (%(imei0)s + v)::text AS imei, 'Vehicle ' || lpad(v::text, 5, '0') AS device_name,
             'K' || v AS license_plate_no, 'Driver ' || v AS driver_name,
             CASE WHEN v %% 20 < 14 THEN 'Nairobi' WHEN v %% 20 < 17 THEN 'Mombasa' ELSE 'Kampala' END AS assigned_city,
             'acct' || (v %% 10) AS account, 10000 + v AS current_mileage_km, 9.5 AS fuel_100km
      FROM generate_series(0, %(devices)s - 1) v) d;

INSERT INTO gold.fact_daily_fleet_metrics (
    local_day, imei, device_name, license_plate_no, driver_name, city, account, km, distance_source, gps_km,
    odometer_km, odometer_gps_ratio, distance_flag, driving_s, idle_s, parked_s, offline_s, trips,
    first_movement_at, last_movement_at, alarms_total, alarms_harsh_acceleration, alarms_harsh_braking,
    alarms_sharp_turn, alarms_overspeed, alarms_sos, alarms_power, alarms_tamper, alarms_collision, alarms_fatigue,
    alarms_geofence, alarms_other, overspeed_position_events, aggression_events, aggression_index, utilisation_pct,
    fuel_estimate_l, idle_fuel_l, idle_cost)
SELECT %(last_day)s::date - n, (%(imei0)s + v)::text, 'Vehicle ' || lpad(v::text, 5, '0'), 'K' || v, 'Driver ' || v,
       CASE WHEN v %% 20 < 14 THEN 'Nairobi' WHEN v %% 20 < 17 THEN 'Mombasa' ELSE 'Kampala' END,
       'acct' || (v %% 10), 80 + v %% 40, 'gps', 80 + v %% 40, NULL, NULL, false, 17400, 600, 60000, 8400, 2,
       ((%(last_day)s::date - n) + time '08:00') AT TIME ZONE 'Africa/Nairobi',
       ((%(last_day)s::date - n) + time '17:00') AT TIME ZONE 'Africa/Nairobi',
       3, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3.0, 53.7, 8.0, 0.13, 24
FROM generate_series(0, %(gold_days)s - 1) n, generate_series(0, %(vehicles)s - 1) v;

INSERT INTO silver.segments (imei, started_at, ended_at, local_day, state, duration_s, fix_count, distance_km)
SELECT (%(imei0)s + v)::text, ds + make_interval(secs => a), ds + make_interval(secs => b), d::date, state, b - a,
       (b - a) / 30, CASE state WHEN 'moving' THEN 40 ELSE 0 END
FROM generate_series(%(seg_first)s::date, %(last_day)s::date, interval '1 day') d,
     LATERAL (SELECT (d::date)::timestamp AT TIME ZONE 'Africa/Nairobi' AS ds) s,
     generate_series(0, %(vehicles)s - 1) v,
     (VALUES (0, 28800, 'parked'), (28800, 29100, 'idle'), (29100, 37800, 'moving'), (37800, 50400, 'parked'),
             (50400, 50700, 'idle'), (50700, 59400, 'moving'), (59400, 86400, 'parked')) seg(a, b, state);

INSERT INTO silver.day_builds (local_day, built_at, devices, fixes_kept, segments, trips, duration_ms)
SELECT %(last_day)s::date - n, ((%(last_day)s::date - n + 1) + time '06:00') AT TIME ZONE 'Africa/Nairobi',
       %(vehicles)s, %(vehicles)s * 624, %(vehicles)s * 7, %(vehicles)s * 2, 9000
FROM generate_series(0, %(gold_days)s - 1) n;
"""


#: Gold history generated for Fleet trends (its default range is 90 days).
GOLD_DAYS = 91


def fill_dwh(conn, *, devices: int, history_devices: int, days: int, today: date) -> None:
    last = today - timedelta(days=1)
    with conn.cursor() as cur:
        cur.execute(GOLD_SQL, {"imei0": IMEI0, "devices": devices, "vehicles": history_devices,
                               "gold_days": GOLD_DAYS, "seg_first": last - timedelta(days=days - 1),
                               "last_day": last})
        cur.execute("ANALYZE")
