-- Trip reports (/pushtripreport).
WITH src AS MATERIALIZED (SELECT %(items)s::jsonb AS items)  -- raw items as received, parsed once
INSERT INTO tracksolid.push_trip_reports
    (imei, start_time, end_time, start_lat, start_lng, end_lat, end_lng, distance_km, avg_speed_kmh,
     max_speed_kmh, run_time_s, fuel_l, raw)
SELECT r.imei, r.start_time, r.end_time, r.start_lat, r.start_lng, r.end_lat, r.end_lng, r.distance_km,
       r.avg_speed_kmh, r.max_speed_kmh, r.run_time_s, r.fuel_l, src.items -> r.item
FROM src CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, start_time timestamptz, end_time timestamptz, start_lat double precision,
    start_lng double precision, end_lat double precision, end_lng double precision, distance_km numeric,
    avg_speed_kmh numeric, max_speed_kmh numeric, run_time_s integer, fuel_l numeric, item integer)
ORDER BY r.imei, r.start_time, r.item  -- duplicates in one request: the first item wins
ON CONFLICT (imei, start_time) DO NOTHING
