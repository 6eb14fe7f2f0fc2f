-- Reserve the next send slot of one rate-limit bucket: slot = max(now, next_free), next_free = slot + spacing.
-- now is the database clock read after the row lock is held (the SET of ON CONFLICT runs under it), so
-- reservations from every machine are ordered and spaced on one clock. A next_free further ahead than
-- horizon_s is stale (the server clock jumped back): pacing restarts from now.
-- Returns the slot and the seconds to wait for it (0 when it is now).
INSERT INTO tracksolid.api_rate_limit AS r (bucket, next_free, reserved_at, spacing_s)
VALUES (%(bucket)s, clock_timestamp() + make_interval(secs => %(spacing_s)s), clock_timestamp(), %(spacing_s)s)
ON CONFLICT (bucket) DO UPDATE
SET reserved_at = clock_timestamp(),
    spacing_s   = EXCLUDED.spacing_s,
    next_free   = CASE WHEN r.next_free > clock_timestamp() + make_interval(secs => %(horizon_s)s)
                       THEN clock_timestamp()
                       ELSE greatest(r.next_free, clock_timestamp()) END
                  + make_interval(secs => %(spacing_s)s)
RETURNING extract(epoch FROM next_free)::float8 - spacing_s AS slot,
          greatest(0, extract(epoch FROM next_free - reserved_at)::float8 - spacing_s) AS wait_s;
