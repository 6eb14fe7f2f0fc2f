-- Temperature / humidity readings (/pushtem).
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)  -- raw items as received, parsed once
INSERT INTO tracksolid.temperature_readings (imei, reading_time, temperature_c, humidity_pct, raw)
SELECT r.imei, r.reading_time, r.temperature_c, r.humidity_pct, src.items -> r.item
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, reading_time timestamptz, temperature_c numeric, humidity_pct numeric, item integer)
ORDER BY r.imei, r.reading_time, r.item  -- duplicates in one request: the first item wins
ON CONFLICT (imei, reading_time) DO NOTHING
