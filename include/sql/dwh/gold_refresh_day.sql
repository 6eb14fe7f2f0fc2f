-- Gold facts of one local day from its silver rows (migration 0007), in the caller's transaction.
SELECT gold.refresh_daily_metrics(%(day)s::date) AS gold_rows
