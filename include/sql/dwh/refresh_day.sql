-- Rebuild silver for one local day, then its gold facts, in the caller's single transaction.
SELECT silver.rebuild_day(%(day)s::date) AS silver, gold.refresh_daily_metrics(%(day)s::date) AS gold_rows
