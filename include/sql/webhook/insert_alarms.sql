-- Pushed alarms (/pushalarm and the Tracksolid Pro jimi.push.device.alarm). The same alarm may arrive by both
-- formats (and by polling) with different fields: the first row stays, a later one only fills its empty
-- columns (never overwrites). DISTINCT ON: one row per key per statement (required by DO UPDATE).
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)  -- raw items as received, parsed once
INSERT INTO tracksolid.alarms AS a
    (imei, alarm_type, alarm_time, alarm_name, device_name, positioning_time, lat, lng, geom, speed_kmh, geoid,
     source, raw)
SELECT DISTINCT ON (r.imei, r.alarm_type, r.alarm_time)
       r.imei, r.alarm_type, r.alarm_time, r.alarm_name, r.device_name, r.positioning_time, r.lat, r.lng,
       CASE WHEN r.lat IS NOT NULL AND r.lng IS NOT NULL THEN ST_SetSRID(ST_MakePoint(r.lng, r.lat), 4326) END,
       r.speed_kmh, r.geoid, 'push', src.items -> r.item
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, alarm_type text, alarm_time timestamptz, alarm_name text, device_name text,
    positioning_time timestamptz, lat double precision, lng double precision, speed_kmh numeric, geoid text,
    item integer)
ORDER BY r.imei, r.alarm_type, r.alarm_time, r.item  -- the first item of a key wins
ON CONFLICT (imei, alarm_type, alarm_time) DO UPDATE SET
    alarm_name = COALESCE(a.alarm_name, EXCLUDED.alarm_name),
    device_name = COALESCE(a.device_name, EXCLUDED.device_name),
    positioning_time = COALESCE(a.positioning_time, EXCLUDED.positioning_time),
    lat = COALESCE(a.lat, EXCLUDED.lat),
    lng = COALESCE(a.lng, EXCLUDED.lng),
    geom = COALESCE(a.geom, EXCLUDED.geom),
    speed_kmh = COALESCE(a.speed_kmh, EXCLUDED.speed_kmh),
    geoid = COALESCE(a.geoid, EXCLUDED.geoid)
WHERE (a.alarm_name IS NULL AND EXCLUDED.alarm_name IS NOT NULL)
   OR (a.device_name IS NULL AND EXCLUDED.device_name IS NOT NULL)
   OR (a.positioning_time IS NULL AND EXCLUDED.positioning_time IS NOT NULL)
   OR (a.lat IS NULL AND EXCLUDED.lat IS NOT NULL)
   OR (a.speed_kmh IS NULL AND EXCLUDED.speed_kmh IS NOT NULL)
   OR (a.geoid IS NULL AND EXCLUDED.geoid IS NOT NULL)
