-- Daily report: every active vehicle with its gold facts for the local day (no facts = did not report).
-- City from the device master (devices.assigned_city); the day's last known position for the not-moved list.
SELECT d.imei,
       coalesce(nullif(d.device_name, ''), nullif(d.license_plate_no, ''), d.imei) AS vehicle,
       d.license_plate_no                                  AS plate,
       d.driver_name,
       coalesce(nullif(d.assigned_city, ''), 'Unassigned') AS city,
       coalesce(g.km, 0)::float8                           AS km,
       coalesce(g.driving_s, 0)::float8 / 3600             AS driving_h,
       coalesce(g.idle_s, 0)::float8 / 3600                AS idle_h,
       coalesce(g.parked_s, 0)::float8 / 3600              AS parked_h,
       coalesce(g.offline_s, 86400)::float8 / 3600         AS offline_h,
       coalesce(g.utilisation_pct, 0)::float8              AS utilisation_pct,
       coalesce(g.idle_cost, 0)::float8                    AS idle_cost,
       coalesce(g.trips, 0)                                AS trips,
       coalesce(g.alarms_total, 0)                         AS alarms,
       g.first_movement_at,
       g.last_movement_at,
       last_fix.gps_time                                   AS last_fix_at,
       last_fix.lat                                        AS last_lat,
       last_fix.lng                                        AS last_lng
FROM bronze.devices d
LEFT JOIN gold.fact_daily_fleet_metrics g ON g.imei = d.imei AND g.local_day = %(day)s
LEFT JOIN LATERAL (
    SELECT p.gps_time, p.lat, p.lng
    FROM bronze.position_history p
    WHERE p.imei = d.imei AND p.gps_time < %(day_end)s
      AND NOT (p.lat = 0 AND p.lng = 0)
    ORDER BY p.gps_time DESC
    LIMIT 1) last_fix ON true
WHERE coalesce(d.is_active, true)
ORDER BY city, vehicle
