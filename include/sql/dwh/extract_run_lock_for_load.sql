-- Inside the load transaction: the run row and the table's watermark, both locked until commit.
SELECT r.status, r.loaded_at, r.watermark_from, r.watermark_to, r.rows_extracted, r.object_key,
       w.watermark_value
FROM dwh_control.extract_runs r
JOIN dwh_control.extract_watermarks w ON w.table_name = r.table_name
WHERE r.id = %(id)s
FOR UPDATE OF r, w
