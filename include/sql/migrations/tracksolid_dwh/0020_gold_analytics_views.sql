-- Warehouse analytics views for trends and history (SPEC §7, docs/ANALYTICS.md): vehicle-day and
-- vehicle-week facts, fleet facts by city and day / week, and service due, all over gold.fact_daily_fleet_metrics
-- (built from silver segments by gold.refresh_daily_metrics) and the bronze masters.
-- Thresholds: silver.setting(key, imei) = per-vehicle override (dwh_control.vehicle_settings), else the live
-- settings copied by the extract (bronze.settings), else the warehouse default (dwh_control.settings).
-- week = the ISO week's Monday (date_trunc('week')) of the local day.

INSERT INTO dwh_control.settings (key, value, description) VALUES
    ('service_interval_km', 5000, 'distance between workshop services')
ON CONFLICT (key) DO NOTHING;

CREATE VIEW gold.v_vehicle_day AS
SELECT f.local_day                                               AS day,
       date_trunc('week', f.local_day)::date                     AS week,
       f.imei,
       coalesce(nullif(btrim(f.device_name), ''), nullif(btrim(f.license_plate_no), ''), f.imei) AS vehicle,
       f.license_plate_no                                        AS plate,
       f.driver_name, f.city, f.account,
       f.km, f.gps_km, f.distance_source, f.distance_flag,
       f.trips,
       f.driving_s / 3600.0                                      AS driving_h,
       f.idle_s / 3600.0                                         AS idle_h,
       f.parked_s / 3600.0                                       AS parked_h,
       f.offline_s / 3600.0                                      AS offline_h,
       f.utilisation_pct,
       100.0 * f.idle_s / (silver.setting('shift_hours', f.imei) * 3600) AS idle_pct_of_shift,
       f.idle_fuel_l, f.idle_cost, f.fuel_estimate_l,
       f.first_movement_at, f.last_movement_at,
       f.alarms_total,
       f.alarms_harsh_acceleration, f.alarms_harsh_braking, f.alarms_sharp_turn, f.alarms_overspeed,
       f.overspeed_position_events,
       f.aggression_events,
       f.aggression_index,
       CASE WHEN f.km > 0 THEN f.alarms_total * 100.0 / f.km END AS alarms_per_100km,
       f.refreshed_at
FROM gold.fact_daily_fleet_metrics f;
COMMENT ON VIEW gold.v_vehicle_day IS
    'Vehicle x local day: km, driving / idle / parked / offline hours, utilisation, idle cost, behaviour, alarms';

-- Shared roll-up of vehicle days into any grouping: ratios are recomputed from sums, never averaged.
CREATE VIEW gold.v_vehicle_week AS
SELECT d.week, d.imei,
       max(d.vehicle) AS vehicle, max(d.plate) AS plate, max(d.driver_name) AS driver_name, max(d.city) AS city,
       count(*)::integer                                         AS days,
       sum(d.km)                                                 AS km,
       sum(d.trips)::integer                                     AS trips,
       sum(d.driving_h) AS driving_h, sum(d.idle_h) AS idle_h, sum(d.parked_h) AS parked_h,
       sum(d.offline_h) AS offline_h,
       avg(d.utilisation_pct)                                    AS utilisation_pct,
       sum(d.idle_cost)                                          AS idle_cost,
       sum(d.alarms_total)::integer                              AS alarms_total,
       sum(d.aggression_events)::integer                         AS aggression_events,
       CASE WHEN sum(d.km) > 0 THEN sum(d.aggression_events) * 100.0 / sum(d.km) END AS aggression_index,
       CASE WHEN sum(d.km) > 0 THEN sum(d.alarms_total) * 100.0 / sum(d.km) END      AS alarms_per_100km
FROM gold.v_vehicle_day d
GROUP BY d.week, d.imei;
COMMENT ON VIEW gold.v_vehicle_week IS
    'Vehicle x week (Monday): km, hours by state, mean daily utilisation, idle cost, aggression and alarms per 100 km';

CREATE VIEW gold.v_fleet_day_city AS
SELECT d.day, d.week, coalesce(d.city, 'unassigned') AS city,
       count(*)::integer                                         AS vehicles,
       count(*) FILTER (WHERE d.driving_h > 0)::integer          AS vehicles_moved,
       sum(d.km)                                                 AS km,
       sum(d.trips)::integer                                     AS trips,
       sum(d.driving_h) AS driving_h, sum(d.idle_h) AS idle_h, sum(d.parked_h) AS parked_h,
       sum(d.offline_h) AS offline_h,
       avg(d.utilisation_pct)                                    AS utilisation_pct,
       avg(d.idle_pct_of_shift)                                  AS idle_pct_of_shift,
       sum(d.idle_cost)                                          AS idle_cost,
       sum(d.alarms_total)::integer                              AS alarms_total,
       sum(d.aggression_events)::integer                         AS aggression_events,
       CASE WHEN sum(d.km) > 0 THEN sum(d.aggression_events) * 100.0 / sum(d.km) END AS aggression_index,
       CASE WHEN sum(d.km) > 0 THEN sum(d.alarms_total) * 100.0 / sum(d.km) END      AS alarms_per_100km
FROM gold.v_vehicle_day d
GROUP BY d.day, d.week, coalesce(d.city, 'unassigned');
COMMENT ON VIEW gold.v_fleet_day_city IS
    'City x local day: vehicles, km, hours by state, mean utilisation, idle cost, aggression and alarms per 100 km';

CREATE VIEW gold.v_fleet_week_city AS
SELECT d.week, coalesce(d.city, 'unassigned') AS city,
       count(DISTINCT d.imei)::integer                           AS vehicles,
       count(*)::integer                                         AS vehicle_days,
       sum(d.km)                                                 AS km,
       sum(d.trips)::integer                                     AS trips,
       sum(d.driving_h) AS driving_h, sum(d.idle_h) AS idle_h, sum(d.parked_h) AS parked_h,
       sum(d.offline_h) AS offline_h,
       avg(d.utilisation_pct)                                    AS utilisation_pct,
       avg(d.idle_pct_of_shift)                                  AS idle_pct_of_shift,
       sum(d.idle_cost)                                          AS idle_cost,
       sum(d.alarms_total)::integer                              AS alarms_total,
       sum(d.aggression_events)::integer                         AS aggression_events,
       CASE WHEN sum(d.km) > 0 THEN sum(d.aggression_events) * 100.0 / sum(d.km) END AS aggression_index,
       CASE WHEN sum(d.km) > 0 THEN sum(d.alarms_total) * 100.0 / sum(d.km) END      AS alarms_per_100km
FROM gold.v_vehicle_day d
GROUP BY d.week, coalesce(d.city, 'unassigned');
COMMENT ON VIEW gold.v_fleet_week_city IS
    'City x week (Monday): vehicles, km, hours by state, mean utilisation, idle cost, aggression, alarms per 100 km';

CREATE VIEW gold.v_driver_week AS
SELECT date_trunc('week', b.local_day)::date AS week,
       b.driver_key, b.driver_name,
       sum(b.km)                                                 AS km,
       sum(b.driving_s) / 3600.0                                 AS driving_h,
       sum(b.harsh_acceleration)::integer AS harsh_acceleration, sum(b.harsh_braking)::integer AS harsh_braking,
       sum(b.sharp_turn)::integer AS sharp_turn, sum(b.overspeed)::integer AS overspeed,
       sum(b.aggression_events)::integer                         AS aggression_events,
       CASE WHEN sum(b.km) > 0 THEN sum(b.aggression_events) * 100.0 / sum(b.km) END AS aggression_index
FROM gold.fact_driver_daily_behaviour b
GROUP BY 1, b.driver_key, b.driver_name;
COMMENT ON VIEW gold.v_driver_week IS 'Driver x week (Monday): km, driving hours, behaviour events, aggression index';

-- Service due: km since the last workshop service against service_interval_km. Odometer now: the device
-- master's current mileage, else the latest manual capture; without an odometer at either end, the gold km
-- driven since the service day.
CREATE VIEW gold.v_service_due AS
SELECT d.imei,
       coalesce(nullif(btrim(d.device_name), ''), nullif(btrim(d.license_plate_no), ''), d.imei) AS vehicle,
       d.license_plate_no AS plate, d.driver_name, d.assigned_city AS city,
       s.service_date                                            AS last_service_date,
       s.odometer_km                                             AS last_service_odometer_km,
       o.odometer_km,
       o.odometer_source,
       k.km_since_service,
       k.km_source,
       silver.setting('service_interval_km', d.imei)             AS service_interval_km,
       silver.setting('service_interval_km', d.imei) - k.km_since_service AS km_to_service,
       k.km_since_service >= silver.setting('service_interval_km', d.imei) AS service_due
FROM bronze.devices d
LEFT JOIN LATERAL (
    SELECT l.service_date, l.odometer_km FROM bronze.ops_service_log l
    WHERE l.imei = d.imei ORDER BY l.service_date DESC, l.id DESC LIMIT 1) s ON true
LEFT JOIN LATERAL (
    SELECT coalesce(d.current_mileage_km, r.odometer_km) AS odometer_km,
           CASE WHEN d.current_mileage_km IS NOT NULL THEN 'device'
                WHEN r.odometer_km IS NOT NULL THEN 'manual' END AS odometer_source
    FROM (SELECT NULL) one
    LEFT JOIN LATERAL (
        SELECT r.odometer_km FROM bronze.ops_odometer_readings r
        WHERE r.imei = d.imei ORDER BY r.reading_time DESC, r.id DESC LIMIT 1) r ON true) o ON true
LEFT JOIN LATERAL (
    SELECT CASE WHEN s.odometer_km IS NOT NULL AND o.odometer_km IS NOT NULL
                THEN o.odometer_km - s.odometer_km
                ELSE (SELECT sum(f.km)::numeric FROM gold.fact_daily_fleet_metrics f
                      WHERE f.imei = d.imei AND f.local_day > s.service_date) END AS km_since_service,
           CASE WHEN s.odometer_km IS NOT NULL AND o.odometer_km IS NOT NULL THEN 'odometer'
                WHEN s.service_date IS NOT NULL THEN 'gold_km' END AS km_source) k ON true
WHERE d.is_active IS NOT FALSE;
COMMENT ON VIEW gold.v_service_due IS
    'Per vehicle: km since the last service against service_interval_km, km to go, and whether it is due';

GRANT SELECT ON gold.v_vehicle_day, gold.v_vehicle_week, gold.v_fleet_day_city, gold.v_fleet_week_city,
    gold.v_driver_week, gold.v_service_due TO grafana_ro;
GRANT SELECT ON dwh_control.v_table_freshness, dwh_control.v_recent_failures, dwh_control.v_watermark_lag
    TO grafana_ro;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON gold.v_vehicle_day, gold.v_vehicle_week, gold.v_fleet_day_city,
    gold.v_fleet_week_city, gold.v_driver_week, gold.v_service_due FROM dwh_owner;
