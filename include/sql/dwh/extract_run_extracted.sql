-- The object is in the store: record its key and row count.
UPDATE dwh_control.extract_runs
SET status = 'extracted', rows_extracted = %(rows)s, object_key = %(object_key)s, extracted_at = now()
WHERE id = %(id)s
