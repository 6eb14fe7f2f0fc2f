-- LBS / Wi-Fi location reports (/pushlbs).
INSERT INTO tracksolid.lbs_readings (imei, reading_time, post_type, lbs, raw)
SELECT r.imei, r.reading_time, r.post_type, r.lbs, r.raw
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, reading_time timestamptz, post_type text, lbs jsonb, raw jsonb)
ORDER BY r.imei, r.reading_time
ON CONFLICT (imei, reading_time) DO NOTHING
