-- High-water mark of one bronze run, taken once at its start on tracksolid_db and shared by every table.
-- `ingested_at` defaults to now(), i.e. the writing transaction's start time, so rows of a transaction that is
-- still open carry ingested_at >= its xact_start and may commit after our extract. Extracting only
-- `col < least(now(), oldest open xact_start)` therefore never skips a row: the rest comes next run.
-- tracksolid.oldest_open_xact_start() (live migration 0040) reads pg_stat_activity as its owner, so dwh_owner
-- needs no pg_read_all_stats; `sees_all_sessions` false tells the caller to add its fallback lag instead.
SELECT least(now(), coalesce(o.oldest_xact_start, 'infinity'::timestamptz))
           - make_interval(secs => %(safety_lag_s)s) AS high_water_mark,
       o.sees_all_sessions,
       now()                                         AS taken_at
FROM tracksolid.oldest_open_xact_start() o
