-- A polled heartbeat without a fix moves an existing live position's hb_time and online flag forward (never
-- backwards); the position itself is untouched. Rows are locked in imei order, as every writer of
-- live_positions does, so concurrent writers wait instead of deadlocking.
-- %(rows)s: jsonb array of {imei, hb_time, online}.
WITH hb AS (
    SELECT DISTINCT ON (r.imei) r.imei, r.hb_time, r.online
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(imei text, hb_time timestamptz, online boolean)
    ORDER BY r.imei, r.hb_time DESC
), locked AS MATERIALIZED (
    SELECT lp.imei
    FROM tracksolid.live_positions AS lp
    JOIN hb ON hb.imei = lp.imei
    WHERE lp.hb_time IS NULL OR lp.hb_time < hb.hb_time
    ORDER BY lp.imei
    FOR UPDATE OF lp
)
UPDATE tracksolid.live_positions AS lp
SET hb_time = hb.hb_time, online = coalesce(hb.online, lp.online)
FROM hb
WHERE lp.imei = hb.imei
  AND lp.imei IN (SELECT imei FROM locked)
  AND (lp.hb_time IS NULL OR lp.hb_time < hb.hb_time)
