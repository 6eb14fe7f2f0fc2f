-- Open (or, on a task retry, reopen) the extract_runs row of one table in one run.
-- A row whose rows were already committed is never reopened: the caller gets no row back and stops.
INSERT INTO dwh_control.extract_runs AS r
    (run_id, table_name, status, load_mode, watermark_from, watermark_to)
VALUES (%(run_id)s, %(table_name)s, 'started', %(load_mode)s, %(watermark_from)s, %(watermark_to)s)
ON CONFLICT (run_id, table_name) DO UPDATE
    SET status = 'started', load_mode = EXCLUDED.load_mode,
        watermark_from = EXCLUDED.watermark_from, watermark_to = EXCLUDED.watermark_to,
        rows_extracted = NULL, rows_loaded = NULL, error = NULL,
        started_at = now(), extracted_at = NULL, finished_at = NULL
    WHERE r.loaded_at IS NULL
RETURNING id
