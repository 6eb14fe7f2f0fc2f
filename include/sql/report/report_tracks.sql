-- Daily report: the day's cleaned fixes (silver.fixes of a built day), in track order per vehicle.
SELECT f.imei, f.gps_time, f.lat, f.lng, f.point_state
FROM silver.fixes f
WHERE f.local_day = %(day)s
ORDER BY f.imei, f.gps_time
