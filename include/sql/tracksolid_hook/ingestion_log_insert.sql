-- One audit row per API call attempt (success or failure). Never a secret, token or password.
INSERT INTO tracksolid.ingestion_log (
    dag_id, run_id, task_id, map_index, method, target, imei_count, attempt,
    http_status, api_code, row_count, duration_ms, error
) VALUES (
    %(dag_id)s, %(run_id)s, %(task_id)s, %(map_index)s, %(method)s, %(target)s, %(imei_count)s, %(attempt)s,
    %(http_status)s, %(api_code)s, %(row_count)s, %(duration_ms)s, %(error)s
);
