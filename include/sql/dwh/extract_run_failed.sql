-- Mark a run failed with its error. A row whose load committed keeps loaded_at / rows_loaded, so the
-- freshness view still sees the data; only the status and error say the step after the load failed.
UPDATE dwh_control.extract_runs
SET status = 'failed', error = left(%(error)s, 4000), finished_at = now()
WHERE id = %(id)s
