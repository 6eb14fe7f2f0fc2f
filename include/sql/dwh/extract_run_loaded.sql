-- Close the run row in the load transaction: its rows are in bronze.
UPDATE dwh_control.extract_runs
SET status = 'loaded', rows_loaded = %(rows)s, loaded_at = %(loaded_at)s, finished_at = now(), error = NULL
WHERE id = %(id)s
