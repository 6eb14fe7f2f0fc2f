-- LBS / Wi-Fi location reports (/pushlbs).
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)  -- raw items as received, parsed once
INSERT INTO tracksolid.lbs_readings (imei, reading_time, post_type, lbs, raw)
SELECT r.imei, r.reading_time, r.post_type, r.lbs, src.items -> r.item
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, reading_time timestamptz, post_type text, lbs jsonb, item integer)
ORDER BY r.imei, r.reading_time, r.item  -- duplicates in one request: the first item wins
ON CONFLICT (imei, reading_time) DO NOTHING
