-- The newest push fix per device replaces the live position only when it is newer than what is there
-- (re-uploaded and late fixes never move a vehicle back in time).
INSERT INTO tracksolid.live_positions
    (imei, gps_time, lat, lng, geom, speed_kmh, direction, acc_status, pos_type, gps_num, current_mileage_km,
     source, raw)
SELECT DISTINCT ON (r.imei)
       r.imei, r.gps_time, r.lat, r.lng, ST_SetSRID(ST_MakePoint(r.lng, r.lat), 4326), r.speed_kmh, r.direction,
       r.acc_status, r.pos_type, r.satellite, r.odometer_km, 'push', r.raw
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, gps_time timestamptz, lat double precision, lng double precision, speed_kmh numeric,
    direction integer, acc_status boolean, pos_type text, satellite integer, odometer_km numeric, raw jsonb)
ORDER BY r.imei, r.gps_time DESC
ON CONFLICT (imei) DO UPDATE SET
    gps_time = EXCLUDED.gps_time,
    lat = EXCLUDED.lat,
    lng = EXCLUDED.lng,
    geom = EXCLUDED.geom,
    speed_kmh = EXCLUDED.speed_kmh,
    direction = EXCLUDED.direction,
    acc_status = EXCLUDED.acc_status,
    pos_type = EXCLUDED.pos_type,
    gps_num = EXCLUDED.gps_num,
    current_mileage_km = COALESCE(EXCLUDED.current_mileage_km, tracksolid.live_positions.current_mileage_km),
    source = EXCLUDED.source,
    raw = EXCLUDED.raw,
    ingested_at = now()
WHERE EXCLUDED.gps_time > tracksolid.live_positions.gps_time
