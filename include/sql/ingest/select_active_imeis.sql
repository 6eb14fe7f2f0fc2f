-- Active, registered devices per account target, the input of every IMEI-batched endpoint DAG.
-- %(targets)s: text[] of account targets; %(imeis)s: text[] subset of IMEIs, or NULL for all.
SELECT account, imei
FROM tracksolid.devices
WHERE is_active
  AND is_registered
  AND account = ANY(%(targets)s)
  AND (%(imeis)s::text[] IS NULL OR imei = ANY(%(imeis)s::text[]))
ORDER BY account, imei;
