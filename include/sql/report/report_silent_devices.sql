-- Daily report: devices silent at the end of the local day (or now, for today), by the silent-hours buckets
-- of the settings (silver.setting: per-vehicle override -> live copy -> warehouse default). Last seen is the
-- newer of the last fix and the last heartbeat; a device never seen has no last_seen_at.
WITH ref AS (SELECT least(%(day_end)s::timestamptz, now()) AS at),
seen AS (
    SELECT d.imei,
           coalesce(nullif(d.device_name, ''), nullif(d.license_plate_no, ''), d.imei) AS vehicle,
           d.license_plate_no AS plate,
           coalesce(nullif(d.assigned_city, ''), 'Unassigned') AS city,
           ref.at AS reference_at,
           greatest(
               (SELECT max(p.gps_time) FROM bronze.position_history p
                WHERE p.imei = d.imei AND p.gps_time <= ref.at),
               (SELECT max(h.hb_time) FROM bronze.heartbeats h
                WHERE h.imei = d.imei AND h.hb_time <= ref.at)) AS last_seen_at
    FROM bronze.devices d CROSS JOIN ref
    WHERE coalesce(d.is_active, true)),
aged AS (
    SELECT s.*, extract(epoch FROM s.reference_at - s.last_seen_at)::float8 / 3600 AS silent_hours
    FROM seen s)
SELECT a.imei, a.vehicle, a.plate, a.city, a.last_seen_at, a.silent_hours,
       CASE WHEN a.last_seen_at IS NULL                                   THEN 'never'
            WHEN a.silent_hours >= silver.setting('silent_hours_lost', a.imei)     THEN 'lost'
            WHEN a.silent_hours >= silver.setting('silent_hours_critical', a.imei) THEN 'critical'
            WHEN a.silent_hours >= silver.setting('silent_hours_alert', a.imei)    THEN 'alert'
            ELSE 'warn' END AS bucket,
       CASE WHEN a.last_seen_at IS NULL                                   THEN NULL
            WHEN a.silent_hours >= silver.setting('silent_hours_lost', a.imei)     THEN silver.setting('silent_hours_lost', a.imei)
            WHEN a.silent_hours >= silver.setting('silent_hours_critical', a.imei) THEN silver.setting('silent_hours_critical', a.imei)
            WHEN a.silent_hours >= silver.setting('silent_hours_alert', a.imei)    THEN silver.setting('silent_hours_alert', a.imei)
            ELSE silver.setting('silent_hours_warn', a.imei) END::float8 AS bucket_hours
FROM aged a
WHERE a.last_seen_at IS NULL OR a.silent_hours >= silver.setting('silent_hours_warn', a.imei)
ORDER BY a.silent_hours DESC NULLS FIRST, a.city, a.vehicle
