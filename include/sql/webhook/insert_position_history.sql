-- Push fixes (/pushgps) into position_history; rows arrive as one JSON array per request.
INSERT INTO tracksolid.position_history
    (imei, gps_time, lat, lng, geom, speed_kmh, direction, acc_status, pos_type, satellite, gps_mode,
     odometer_km, altitude, source, raw)
SELECT r.imei, r.gps_time, r.lat, r.lng, ST_SetSRID(ST_MakePoint(r.lng, r.lat), 4326), r.speed_kmh, r.direction,
       r.acc_status, r.pos_type, r.satellite, r.gps_mode, r.odometer_km, r.altitude, 'push', r.raw
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, gps_time timestamptz, lat double precision, lng double precision, speed_kmh numeric,
    direction integer, acc_status boolean, pos_type text, satellite integer, gps_mode smallint,
    odometer_km numeric, altitude numeric, raw jsonb)
ORDER BY r.imei, r.gps_time
ON CONFLICT (imei, gps_time) DO NOTHING
