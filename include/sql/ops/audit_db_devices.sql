-- The database side of the driver audit: every device, whether it is active and whether it ever reported
-- a position (a live_positions row).
SELECT d.imei, d.account, d.device_name, d.license_plate_no, d.driver_name, d.is_active, d.first_seen_at,
       EXISTS (SELECT 1 FROM tracksolid.live_positions lp WHERE lp.imei = d.imei) AS has_position
FROM tracksolid.devices d
ORDER BY d.imei;
