-- After a device.list of one target: devices the API returned are active (again) and registered;
-- devices of the target it no longer returns are marked inactive (never deleted).
-- %(target)s: account target; %(imeis)s: text[] of the IMEIs device.list returned.
WITH returned AS (
    UPDATE tracksolid.devices
    SET is_active = true, is_registered = true, ingested_at = now()
    WHERE imei = ANY(%(imeis)s::text[])
      AND (NOT is_active OR NOT is_registered)
    RETURNING imei
), gone AS (
    UPDATE tracksolid.devices
    SET is_active = false, ingested_at = now()
    WHERE account = %(target)s
      AND is_active
      AND NOT (imei = ANY(%(imeis)s::text[]))
    RETURNING imei
)
SELECT (SELECT count(*) FROM returned) AS reactivated, (SELECT count(*) FROM gone) AS deactivated;
