-- Every bronze fix around one local day, in PostgreSQL's binary COPY format with a fixed row layout (no NULLs:
-- speed NULL -> 0, ACC NULL -> -1, odometer NULL -> NaN) so the reader can map it straight onto arrays.
-- Unordered: the reader sorts by (device, time), cheaper than a sort here.
COPY (
    SELECT hashtextextended(imei, 0), gps_time, lat, lng, coalesce(speed_kmh, 0)::float8,
           coalesce(acc_status::int, -1)::int2, coalesce(odometer_km::float8, 'NaN'::float8)
    FROM bronze.position_history
    WHERE gps_time >= %(from)s AND gps_time < %(to)s
      -- one pass of several (large fleets): only these devices; NULL = every device
      AND (%(imei_hashes)s::bigint[] IS NULL OR hashtextextended(imei, 0) = ANY(%(imei_hashes)s::bigint[]))
) TO STDOUT (FORMAT binary)
