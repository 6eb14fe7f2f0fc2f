-- The watermark row of a table exists from its first run on (value NULL = never loaded).
INSERT INTO dwh_control.extract_watermarks (table_name, watermark_column, watermark_value)
VALUES (%(table_name)s, %(watermark_column)s, NULL)
ON CONFLICT (table_name) DO UPDATE SET watermark_column = EXCLUDED.watermark_column
    WHERE extract_watermarks.watermark_column IS DISTINCT FROM EXCLUDED.watermark_column
