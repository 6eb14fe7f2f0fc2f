-- Fleet alert conditions: idling longer than idle_alert_minutes. A device idles when its newest fix
-- (no older than alert_fresh_fix_s) has ACC on and speed <= moving_speed_kmh; it has idled since the first
-- fix after its last non-idle fix (looking back at most a day).
-- %(as_of)s: the evaluation time (timestamptz).
WITH cfg AS (
    SELECT (SELECT value FROM tracksolid.settings WHERE key = 'idle_alert_minutes') AS idle_minutes,
           (SELECT value FROM tracksolid.settings WHERE key = 'moving_speed_kmh') AS moving_kmh,
           (SELECT value FROM tracksolid.settings WHERE key = 'alert_fresh_fix_s') AS fresh_s,
           %(as_of)s::timestamptz AS as_of
),
latest AS (
    SELECT d.imei, d.assigned_city AS city,
           coalesce(nullif(d.device_name, ''), nullif(d.license_plate_no, ''), d.imei) AS vehicle, f.*
    FROM tracksolid.devices d
    CROSS JOIN cfg
    CROSS JOIN LATERAL (
        SELECT ph.gps_time, ph.speed_kmh, ph.acc_status, ph.lat, ph.lng
        FROM tracksolid.position_history ph
        WHERE ph.imei = d.imei AND ph.gps_time <= cfg.as_of
          AND ph.gps_time > cfg.as_of - make_interval(secs => cfg.fresh_s::double precision)
        ORDER BY ph.gps_time DESC LIMIT 1) f
    WHERE d.is_active AND f.acc_status IS TRUE AND coalesce(f.speed_kmh, 0) <= cfg.moving_kmh
),
spell AS (
    SELECT l.*, (
        SELECT min(ph.gps_time) FROM tracksolid.position_history ph
        WHERE ph.imei = l.imei AND ph.gps_time <= cfg.as_of
          AND ph.gps_time > coalesce((
              SELECT max(p2.gps_time) FROM tracksolid.position_history p2
              WHERE p2.imei = l.imei AND p2.gps_time <= cfg.as_of AND p2.gps_time > cfg.as_of - interval '1 day'
                AND (p2.acc_status IS DISTINCT FROM true OR coalesce(p2.speed_kmh, 0) > cfg.moving_kmh)),
              cfg.as_of - interval '1 day')) AS idle_since
    FROM latest l CROSS JOIN cfg
)
SELECT 'idling' AS kind, s.imei AS subject, s.imei, 'over_' || trim_scale(cfg.idle_minutes)::text || 'min' AS level,
       1 AS level_rank,
       jsonb_build_object('vehicle', s.vehicle, 'city', s.city, 'idle_since', s.idle_since,
                          'idle_minutes', round((extract(epoch FROM (cfg.as_of - s.idle_since)) / 60.0)::numeric, 0),
                          'latitude', s.lat, 'longitude', s.lng) AS detail
FROM spell s CROSS JOIN cfg
WHERE s.idle_since <= cfg.as_of - make_interval(mins => cfg.idle_minutes::integer)
ORDER BY s.imei;
