-- Push fixes (/pushgps): every fix into position_history and, in the same statement, the newest fix per
-- device into live_positions when it is newer than what is there (re-uploaded and late fixes never move a
-- vehicle back in time). One statement reads the request's JSON once for both tables.
-- %(rows)s: the validated columns, one object per fix; %(items)s: the data_list array exactly as received,
-- from which each row's raw item is taken by its index (nothing re-encoded, unknown fields kept).
-- raw keeps the item without %(column_fields)s, the documented fields whose values are in the columns
-- (webhook_service.fast_items.GPS_COLUMN_FIELDS): unknown fields stay, and the whole request, as sent, is in
-- push_inbox. So a fix's JSON is stored once, not three times (inbox, history, live).
-- position_history is the top-level INSERT (it may be a TimescaleDB hypertable); live_positions is a plain
-- table in a data-modifying CTE, which runs exactly once whether or not the outer query reads it.
WITH src AS MATERIALIZED (
    SELECT %(items)s::jsonb AS items
), fix AS MATERIALIZED (
    SELECT r.*, ST_SetSRID(ST_MakePoint(r.lng, r.lat), 4326) AS geom,
           (src.items -> r.item) - %(column_fields)s::text[] AS raw
    FROM src
    CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(
        imei text, gps_time timestamptz, lat double precision, lng double precision, speed_kmh numeric,
        direction integer, acc_status boolean, pos_type text, satellite integer, gps_mode smallint,
        odometer_km numeric, altitude numeric, item integer)
), live AS (
    INSERT INTO tracksolid.live_positions AS lp
        (imei, gps_time, lat, lng, geom, speed_kmh, direction, acc_status, pos_type, gps_num, current_mileage_km,
         source, raw)
    SELECT DISTINCT ON (f.imei)
           f.imei, f.gps_time, f.lat, f.lng, f.geom, f.speed_kmh, f.direction, f.acc_status, f.pos_type,
           f.satellite, f.odometer_km, 'push', f.raw
    FROM fix AS f
    ORDER BY f.imei, f.gps_time DESC, f.item
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
        current_mileage_km = COALESCE(EXCLUDED.current_mileage_km, lp.current_mileage_km),
        source = EXCLUDED.source,
        raw = EXCLUDED.raw,
        ingested_at = now()
    WHERE EXCLUDED.gps_time > lp.gps_time
)
INSERT INTO tracksolid.position_history
    (imei, gps_time, lat, lng, geom, speed_kmh, direction, acc_status, pos_type, satellite, gps_mode,
     odometer_km, altitude, source, raw)
SELECT f.imei, f.gps_time, f.lat, f.lng, f.geom, f.speed_kmh, f.direction, f.acc_status, f.pos_type, f.satellite,
       f.gps_mode, f.odometer_km, f.altitude, 'push', f.raw
FROM fix AS f
ORDER BY f.imei, f.gps_time, f.item  -- duplicates in one request: the first item wins
ON CONFLICT (imei, gps_time) DO NOTHING
