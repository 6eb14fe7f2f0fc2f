-- One rule for "silent" everywhere: a device is seen when it sends a fix OR a heartbeat, as the fleet alerts
-- (include/sql/ops/alert_silent.sql) and the daily report already count it. A device that keeps sending
-- heartbeats without a fix is not silent (its missing fix shows as an old last fix on the NOC map instead).
-- Same columns as 0051: last_seen_at is now the newer of the fix and the heartbeat.
CREATE OR REPLACE VIEW tracksolid.v_silent_devices AS
SELECT v.imei, v.vehicle, v.plate, v.driver_name, v.city, v.account,
       seen.at                                              AS last_seen_at,
       lp.hb_time                                           AS last_heartbeat_at,
       lp.lat                                               AS latitude,
       lp.lng                                               AS longitude,
       round((extract(epoch FROM now() - seen.at) / 3600.0)::numeric, 1) AS silent_hours,
       b.bucket,
       b.bucket_rank,
       seen.at IS NULL                                      AS never_reported
FROM tracksolid.v_vehicles v
LEFT JOIN tracksolid.live_positions lp ON lp.imei = v.imei
CROSS JOIN LATERAL (SELECT greatest(lp.gps_time, lp.hb_time) AS at) seen
CROSS JOIN LATERAL (
    SELECT trim_scale(t.hours)::text || 'h' AS bucket, t.rank AS bucket_rank
    FROM (VALUES (1, (SELECT tracksolid.setting('silent_hours_warn'))),
                 (2, (SELECT tracksolid.setting('silent_hours_alert'))),
                 (3, (SELECT tracksolid.setting('silent_hours_critical'))),
                 (4, (SELECT tracksolid.setting('silent_hours_lost')))) t(rank, hours)
    WHERE seen.at IS NULL OR now() - seen.at >= make_interval(secs => t.hours * 3600)
    ORDER BY t.rank DESC
    LIMIT 1) b
WHERE v.is_active;
COMMENT ON VIEW tracksolid.v_silent_devices IS
    'Active devices with neither a fix nor a heartbeat for silent_hours_warn hours or more (buckets from settings), '
    'or never reported';
