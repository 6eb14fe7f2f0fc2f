-- Temperature / humidity readings (/pushtem).
INSERT INTO tracksolid.temperature_readings (imei, reading_time, temperature_c, humidity_pct, raw)
SELECT r.imei, r.reading_time, r.temperature_c, r.humidity_pct, r.raw
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, reading_time timestamptz, temperature_c numeric, humidity_pct numeric, raw jsonb)
ORDER BY r.imei, r.reading_time
ON CONFLICT (imei, reading_time) DO NOTHING
