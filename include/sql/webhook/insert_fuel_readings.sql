-- Fuel sensor readings (/pushoil).
INSERT INTO tracksolid.fuel_readings (imei, reading_time, fuel_value, fuel_unit, raw)
SELECT r.imei, r.reading_time, r.fuel_value, r.fuel_unit, r.raw
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, reading_time timestamptz, fuel_value numeric, fuel_unit text, raw jsonb)
ORDER BY r.imei, r.reading_time
ON CONFLICT (imei, reading_time) DO NOTHING
