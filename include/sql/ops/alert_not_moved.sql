-- Fleet alert conditions: vehicles not moved by the configured local hour (not_moved_local_hour, EAT).
-- "Not moved" = the device reported today (local day) but no fix today is faster than moving_speed_kmh and
-- no trip started today; a device that has not reported today is the silent alert's business.
-- The condition holds from that hour until midnight, so each local day is its own episode.
-- %(as_of)s: the evaluation time (timestamptz).
WITH cfg AS (
    SELECT (SELECT value FROM tracksolid.settings WHERE key = 'not_moved_local_hour') AS local_hour,
           (SELECT value FROM tracksolid.settings WHERE key = 'moving_speed_kmh') AS moving_kmh,
           (%(as_of)s::timestamptz AT TIME ZONE 'Africa/Nairobi') AS local_now
),
day AS (
    SELECT local_hour, moving_kmh, local_now::date AS local_day,
           (date_trunc('day', local_now) AT TIME ZONE 'Africa/Nairobi') AS day_start
    FROM cfg
    WHERE extract(hour FROM local_now) >= local_hour
)
SELECT 'not_moved' AS kind, d.imei AS subject, d.imei, 'not_moved' AS level, 1 AS level_rank,
       jsonb_build_object('vehicle', coalesce(nullif(d.device_name, ''), nullif(d.license_plate_no, ''), d.imei),
                          'city', d.assigned_city, 'local_day', day.local_day,
                          'by_local_hour', day.local_hour, 'last_seen_at', greatest(lp.gps_time, lp.hb_time)) AS detail
FROM day
JOIN tracksolid.devices d ON d.is_active
JOIN tracksolid.live_positions lp ON lp.imei = d.imei
WHERE greatest(lp.gps_time, lp.hb_time) >= day.day_start
  AND NOT EXISTS (SELECT 1 FROM tracksolid.position_history ph
                  WHERE ph.imei = d.imei AND ph.gps_time >= day.day_start
                    AND ph.gps_time <= %(as_of)s::timestamptz AND ph.speed_kmh > day.moving_kmh)
  AND NOT EXISTS (SELECT 1 FROM tracksolid.trips t
                  WHERE t.imei = d.imei AND t.start_time >= day.day_start
                    AND t.start_time <= %(as_of)s::timestamptz AND t.distance_km > 0)
ORDER BY d.imei;
