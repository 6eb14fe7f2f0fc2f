-- OBD readings (/pushobd).
INSERT INTO tracksolid.obd_readings
    (imei, reading_time, odometer_km, fuel_l, fuel_pct, rpm, coolant_temp_c, battery_v, speed_kmh, vin, source, raw)
SELECT r.imei, r.reading_time, r.odometer_km, r.fuel_l, r.fuel_pct, r.rpm, r.coolant_temp_c, r.battery_v,
       r.speed_kmh, r.vin, 'push', r.raw
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, reading_time timestamptz, odometer_km numeric, fuel_l numeric, fuel_pct numeric, rpm numeric,
    coolant_temp_c numeric, battery_v numeric, speed_kmh numeric, vin text, raw jsonb)
ORDER BY r.imei, r.reading_time
ON CONFLICT (imei, reading_time) DO NOTHING
