-- Fuel sensor readings (/pushoil).
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)  -- raw items as received, parsed once
INSERT INTO tracksolid.fuel_readings (imei, reading_time, fuel_value, fuel_unit, raw)
SELECT r.imei, r.reading_time, r.fuel_value, r.fuel_unit, src.items -> r.item
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, reading_time timestamptz, fuel_value numeric, fuel_unit text, item integer)
ORDER BY r.imei, r.reading_time, r.item  -- duplicates in one request: the first item wins
ON CONFLICT (imei, reading_time) DO NOTHING
