-- Devices take the latest reported ICCID / VIN (a replayed old report never overwrites a newer one).
-- The device rows are locked in imei order first so that concurrent requests cannot deadlock.
WITH latest AS (
    SELECT imei,
           (array_agg(value ORDER BY reported_at DESC) FILTER (WHERE attribute = 'iccid'))[1] AS iccid,
           (array_agg(value ORDER BY reported_at DESC) FILTER (WHERE attribute = 'vin'))[1] AS vin
    FROM tracksolid.device_attribute_reports
    WHERE imei IN (SELECT r.imei FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(imei text))
    GROUP BY imei
), locked AS MATERIALIZED (
    SELECT d.imei
    FROM tracksolid.devices AS d
    JOIN latest ON latest.imei = d.imei
    WHERE d.iccid IS DISTINCT FROM COALESCE(latest.iccid, d.iccid) OR d.vin IS DISTINCT FROM COALESCE(latest.vin, d.vin)
    ORDER BY d.imei
    FOR UPDATE OF d
)
UPDATE tracksolid.devices AS d
SET iccid = COALESCE(latest.iccid, d.iccid),
    vin = COALESCE(latest.vin, d.vin)
FROM latest
WHERE d.imei = latest.imei
  AND d.imei IN (SELECT imei FROM locked)
  AND (d.iccid IS DISTINCT FROM COALESCE(latest.iccid, d.iccid) OR d.vin IS DISTINCT FROM COALESCE(latest.vin, d.vin))
