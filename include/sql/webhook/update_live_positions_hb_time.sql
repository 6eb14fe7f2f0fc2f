-- A heartbeat moves the live position's hb_time forward (silent-device checks read it); never backwards.
-- The rows are locked in imei order first, the order every statement writing live_positions uses, so that
-- concurrent requests wait for each other instead of deadlocking (a deadlock costs deadlock_timeout, 1 s).
WITH hb AS (
    SELECT r.imei, max(r.hb_time) AS hb_time
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(imei text, hb_time timestamptz)
    GROUP BY r.imei
), locked AS MATERIALIZED (
    SELECT lp.imei
    FROM tracksolid.live_positions AS lp
    JOIN hb ON hb.imei = lp.imei
    WHERE lp.hb_time IS NULL OR lp.hb_time < hb.hb_time
    ORDER BY lp.imei
    FOR UPDATE OF lp
)
UPDATE tracksolid.live_positions AS lp
SET hb_time = hb.hb_time
FROM hb
WHERE lp.imei = hb.imei
  AND lp.imei IN (SELECT imei FROM locked)
  AND (lp.hb_time IS NULL OR lp.hb_time < hb.hb_time)
