-- Pushes may name devices the device list has not returned yet: create them as unregistered so their
-- items are kept (the devices DAG registers them when the API lists them). Sorted to keep lock order stable.
INSERT INTO tracksolid.devices (imei, is_registered, is_active)
SELECT imei, false, true
FROM unnest(%(imeis)s::text[]) AS imei
ORDER BY imei
ON CONFLICT (imei) DO NOTHING
