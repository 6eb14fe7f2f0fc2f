-- The API rate limiter's shared state (tracksolid_hook.ratelimit.DatabaseRateLimiter): one row per bucket
-- (app key + endpoint URL, hashed), holding the next free send time. Every worker process on every machine
-- reserves its send slot here, so together they stay under the connection's max_requests_per_s.
--
-- A reservation is one INSERT ... ON CONFLICT DO UPDATE (include/sql/tracksolid_hook/rate_limit_reserve.sql):
-- the row lock serialises concurrent reservations for the length of that statement only, and the time comes
-- from the database server's clock, so machines whose clocks disagree still space their requests correctly.
--
-- UNLOGGED: the state is worth nothing after a crash (an empty table only means "send now"), and no WAL is
-- written for the busiest row of the database. fillfactor 50 keeps its updates HOT.
CREATE UNLOGGED TABLE tracksolid.api_rate_limit (
    bucket      text PRIMARY KEY,
    next_free   timestamptz NOT NULL,
    reserved_at timestamptz NOT NULL,
    spacing_s   double precision NOT NULL
) WITH (fillfactor = 50);

COMMENT ON TABLE tracksolid.api_rate_limit IS
    'Tracksolid API rate limiter state shared by every worker: per bucket (app key + endpoint), the next free '
    'send time (reservations are spaced spacing_s apart). Unlogged: lost on a crash, which only resets the pacing.';
COMMENT ON COLUMN tracksolid.api_rate_limit.next_free IS
    'Earliest time (database clock) the next request of this bucket may be sent.';
COMMENT ON COLUMN tracksolid.api_rate_limit.reserved_at IS 'When the last slot was reserved (database clock).';
COMMENT ON COLUMN tracksolid.api_rate_limit.spacing_s IS 'Seconds between consecutive send slots, last used.';
