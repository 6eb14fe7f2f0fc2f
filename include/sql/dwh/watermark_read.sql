SELECT watermark_value FROM dwh_control.extract_watermarks WHERE table_name = %(table_name)s
