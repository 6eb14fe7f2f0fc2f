-- At the start of a run: rows of earlier runs left in started/extracted (the worker died, the task was
-- never retried) are closed as failed. Their watermark never moved, so the next extract covers their rows.
UPDATE dwh_control.extract_runs
SET status = 'failed', finished_at = now(),
    error = coalesce(error || '; ', '') || 'abandoned: the run ended before this table was loaded'
WHERE status IN ('started', 'extracted') AND run_id <> %(run_id)s
RETURNING id, table_name, run_id
