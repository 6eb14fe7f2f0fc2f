-- Start rebuilding one local day (caller's transaction). Bronze loads of silver's inputs hold the first lock
-- exclusively: once we hold it shared, every row we cannot see carries a _loaded_at later than built_at, so
-- the day shows up as stale and is rebuilt. The second lock serialises two rebuilds of the same day.
SELECT pg_advisory_xact_lock_shared(hashtext('fleet.dwh.silver_inputs')),
       pg_advisory_xact_lock(hashtext('fleet.dwh.silver_day'), %(day)s::date - date '2000-01-01');
