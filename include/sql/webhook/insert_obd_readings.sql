-- OBD readings (/pushobd).
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)  -- raw items as received, parsed once
INSERT INTO tracksolid.obd_readings
    (imei, reading_time, odometer_km, fuel_l, fuel_pct, rpm, coolant_temp_c, battery_v, speed_kmh, vin, source, raw)
SELECT r.imei, r.reading_time, r.odometer_km, r.fuel_l, r.fuel_pct, r.rpm, r.coolant_temp_c, r.battery_v,
       r.speed_kmh, r.vin, 'push', src.items -> r.item
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, reading_time timestamptz, odometer_km numeric, fuel_l numeric, fuel_pct numeric, rpm numeric,
    coolant_temp_c numeric, battery_v numeric, speed_kmh numeric, vin text, item integer)
ORDER BY r.imei, r.reading_time, r.item  -- duplicates in one request: the first item wins
ON CONFLICT (imei, reading_time) DO NOTHING
