-- Advance (never move back) a table's watermark, in the load transaction.
UPDATE dwh_control.extract_watermarks
SET watermark_value = greatest(coalesce(watermark_value, '-infinity'::timestamptz), %(watermark_to)s)
WHERE table_name = %(table_name)s
