-- Bounds of the local day, the context read on both sides of it (state at midnight, trips across it: at least
-- 3 h and at least the longest offline / trip gap of any vehicle), the future tolerance, and the clocks.
SELECT b.day_start, b.day_end,
       (SELECT make_interval(secs => greatest(3 * 3600, max(v)))
        FROM (SELECT value AS v FROM dwh_control.vehicle_settings WHERE key IN ('offline_gap_s', 'trip_gap_s')
              UNION ALL SELECT silver.setting('offline_gap_s')) s)         AS context,
       coalesce(silver.setting('future_tolerance_s'), 86400)::float8      AS future_tolerance_s,
       now()                                                              AS tx_now,
       clock_timestamp()                                                  AS built_at
FROM silver.local_day_bounds(%(day)s::date) b;
