-- One line per day for the demo and the DAG log: fleet totals of gold.fact_daily_fleet_metrics.
SELECT local_day,
       count(*)                                   AS vehicles,
       round(sum(km)::numeric, 1)                 AS km,
       sum(trips)                                 AS trips,
       round(sum(driving_s) / 3600.0, 1)          AS driving_h,
       round(sum(idle_s) / 3600.0, 1)             AS idle_h,
       round(sum(offline_s) / 3600.0, 1)          AS offline_h,
       sum(alarms_total)                          AS alarms,
       round(avg(utilisation_pct)::numeric, 1)    AS avg_utilisation_pct,
       round(sum(fuel_estimate_l)::numeric, 1)    AS fuel_l,
       count(*) FILTER (WHERE driving_s = 0)      AS not_moved
FROM gold.fact_daily_fleet_metrics
WHERE local_day BETWEEN %(first)s AND %(last)s
GROUP BY local_day
ORDER BY local_day
