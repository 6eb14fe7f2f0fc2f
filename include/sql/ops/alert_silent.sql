-- Fleet alert conditions: silent devices. Last seen = the newer of the live fix and the heartbeat; the
-- level is the highest silent_hours_* bucket reached (tracksolid.settings, default 8 / 12 / 24 / 36 h).
-- %(as_of)s: the evaluation time (timestamptz).
WITH buckets AS (
    SELECT b.rank, s.value AS hours, trim_scale(s.value)::text || 'h' AS level
    FROM (VALUES (1, 'silent_hours_warn'), (2, 'silent_hours_alert'), (3, 'silent_hours_critical'),
                 (4, 'silent_hours_lost')) AS b (rank, key)
    JOIN tracksolid.settings s ON s.key = b.key
),
seen AS (
    SELECT d.imei, d.assigned_city AS city,
           coalesce(nullif(d.device_name, ''), nullif(d.license_plate_no, ''), d.imei) AS vehicle,
           greatest(lp.gps_time, lp.hb_time) AS last_seen_at,
           extract(epoch FROM (%(as_of)s::timestamptz - greatest(lp.gps_time, lp.hb_time))) / 3600.0 AS silent_hours
    FROM tracksolid.devices d
    JOIN tracksolid.live_positions lp ON lp.imei = d.imei
    WHERE d.is_active
)
SELECT 'silent' AS kind, s.imei AS subject, s.imei, b.level, b.rank AS level_rank,
       jsonb_build_object('vehicle', s.vehicle, 'city', s.city, 'last_seen_at', s.last_seen_at,
                          'silent_hours', round(s.silent_hours::numeric, 1)) AS detail
FROM seen s
JOIN LATERAL (SELECT level, rank FROM buckets WHERE s.silent_hours >= buckets.hours
              ORDER BY rank DESC LIMIT 1) b ON true
ORDER BY s.imei;
