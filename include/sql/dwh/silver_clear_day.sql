-- Silver rows of one local day, removed before they are written again (same transaction).
DELETE FROM silver.segments WHERE local_day = %(day)s;
DELETE FROM silver.trips WHERE local_day = %(day)s;
DELETE FROM silver.stops WHERE local_day = %(day)s;
DELETE FROM silver.idle_spells WHERE local_day = %(day)s;
DELETE FROM silver.geofence_visits WHERE local_day = %(day)s;
DELETE FROM silver.overspeed_events WHERE local_day = %(day)s;
DELETE FROM silver.device_days WHERE local_day = %(day)s;
DELETE FROM silver.rejected_fixes WHERE local_day = %(day)s;
