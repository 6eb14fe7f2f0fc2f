-- Silver is now built by Python over numpy arrays (include/fleet_dwh/segments.py), ~20x faster than the
-- window-function rebuild of 0006. Copying a day of cleaned fixes into silver.fixes was the largest single
-- cost of a rebuild (~8.6 M rows for 1,000 vehicles), so the cleaned fixes become a view: bronze fixes of
-- built days minus the ones cleaning rejected, which are few and kept with their reason.

DROP FUNCTION silver.rebuild_day(date);
DROP TABLE silver.fixes;

CREATE TABLE silver.rejected_fixes (
    imei      text NOT NULL,
    gps_time  timestamptz NOT NULL,
    local_day date NOT NULL,
    reason    text NOT NULL CHECK (reason IN ('coordinates', 'future', 'spike')),
    PRIMARY KEY (local_day, imei, gps_time)
);
COMMENT ON TABLE silver.rejected_fixes IS
    'Fixes of a built local day that cleaning dropped: out-of-range or (0,0) coordinates, future, or spikes';

-- As of the day's last build: rows loaded later are not in it until the day is rebuilt (stale_days.sql).
CREATE VIEW silver.fixes AS
SELECT p.imei, p.gps_time, b.local_day, p.lat, p.lng, coalesce(p.speed_kmh, 0)::float8 AS speed_kmh,
       p.acc_status, p.gps_mode, p.odometer_km,
       CASE WHEN p.acc_status IS FALSE THEN 'parked'
            WHEN coalesce(p.speed_kmh, 0) > coalesce(v.value, silver.setting('moving_speed_kmh')) THEN 'moving'
            WHEN p.acc_status THEN 'idle'
            ELSE 'parked' END AS point_state
FROM silver.day_builds b
JOIN bronze.position_history p
  ON p.gps_time >= b.local_day::timestamp AT TIME ZONE 'Africa/Nairobi'
 AND p.gps_time < (b.local_day + 1)::timestamp AT TIME ZONE 'Africa/Nairobi'
 AND p._loaded_at <= b.built_at
LEFT JOIN dwh_control.vehicle_settings v ON v.imei = p.imei AND v.key = 'moving_speed_kmh'
WHERE NOT EXISTS (SELECT 1 FROM silver.rejected_fixes r
                  WHERE r.local_day = b.local_day AND r.imei = p.imei AND r.gps_time = p.gps_time);
COMMENT ON VIEW silver.fixes IS
    'Cleaned fixes (ALGORITHMS.md filters) of every built local day, with the state each point implies';

GRANT SELECT ON silver.fixes, silver.rejected_fixes TO grafana_ro;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON silver.rejected_fixes TO dwh_owner;
GRANT SELECT ON silver.fixes TO dwh_owner;
