-- Devices of the day: every active device (one offline segment when silent) and any that sent fixes in the
-- day, with their thresholds (per-vehicle override -> live setting -> warehouse default) and the 64-bit
-- hash the fix export identifies them by. Distinct IMEIs by a skip scan over bronze's key: one probe each.
WITH RECURSIVE imeis AS (
    SELECT min(imei) AS imei FROM bronze.position_history
    UNION ALL
    SELECT (SELECT min(p.imei) FROM bronze.position_history p WHERE p.imei > i.imei)
    FROM imeis i WHERE i.imei IS NOT NULL
),
ids AS (
    SELECT imei FROM bronze.devices WHERE is_active IS NOT FALSE
    UNION
    SELECT i.imei FROM imeis i
    WHERE i.imei IS NOT NULL
      AND EXISTS (SELECT 1 FROM bronze.position_history p
                  WHERE p.imei = i.imei AND p.gps_time >= %(day_start)s AND p.gps_time < %(day_end)s)
)
SELECT imei,
       hashtextextended(imei, 0)                                  AS imei_hash,
       silver.setting('moving_speed_kmh', imei)::float8           AS moving_kmh,
       silver.setting('offline_gap_s', imei)                      AS offline_gap_s,
       silver.setting('min_stop_s', imei)                         AS min_stop_s,
       silver.setting('min_idle_s', imei)                         AS min_idle_s,
       silver.setting('trip_gap_s', imei)                         AS trip_gap_s,
       silver.setting('min_trip_s', imei)                         AS min_trip_s,
       silver.setting('min_trip_max_speed_kmh', imei)::float8     AS min_trip_speed_kmh,
       silver.setting('min_trip_km', imei)::float8                AS min_trip_km,
       silver.setting('trip_finalise_after_s', imei)              AS finalise_after_s,
       silver.setting('overspeed_kmh', imei)                      AS overspeed_kmh,
       silver.setting('max_jump_kmh', imei)::float8               AS max_jump_kmh
FROM ids
ORDER BY imei;
