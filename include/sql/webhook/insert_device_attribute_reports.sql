-- ICCID / VIN reports (/pushalarm with type ICCID or VIN), kept as history.
INSERT INTO tracksolid.device_attribute_reports (imei, attribute, reported_at, value, raw)
SELECT r.imei, r.attribute, r.reported_at, r.value, r.raw
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
    imei text, attribute text, reported_at timestamptz, value text, raw jsonb)
ORDER BY r.imei, r.attribute, r.reported_at
ON CONFLICT (imei, attribute, reported_at) DO NOTHING
