-- Tables for the push items that 0002 has no home for, and replay bookkeeping on push_inbox.
-- The vendor never published the field lists of /pushfaultinfo, /pushtripreport and /pushlbs: each row keeps
-- the item's raw JSON beside the columns we can extract, so nothing is lost.

-- OBD fault codes (/pushfaultinfo; jimi.device.obd.fault has the same fields: faultCode, faultDetail, eventTime).
CREATE TABLE tracksolid.fault_codes (
    imei         text NOT NULL,
    fault_time   timestamptz NOT NULL,
    fault_code   text NOT NULL,      -- "" when the item carried no code (kept, not dropped)
    fault_detail text,
    device_name  text,
    source       text NOT NULL DEFAULT 'push' CHECK (source IN ('poll', 'push')),
    raw          jsonb,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, fault_time, fault_code)
);
CREATE INDEX fault_codes_ingested_at_idx ON tracksolid.fault_codes (ingested_at);

-- Cell-tower / Wi-Fi location reports (/pushlbs: deviceImei, gateTime, lbsJson, postType).
CREATE TABLE tracksolid.lbs_readings (
    imei         text NOT NULL,
    reading_time timestamptz NOT NULL,
    post_type    text,
    lbs          jsonb,              -- lbsJson, parsed when it is JSON, else the string as sent
    raw          jsonb,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, reading_time)
);
CREATE INDEX lbs_readings_ingested_at_idx ON tracksolid.lbs_readings (ingested_at);

-- Trip reports pushed by the platform (/pushtripreport). Kept apart from tracksolid.trips (track.mileage)
-- because the push field list and units are unconfirmed; compare the two before merging them.
CREATE TABLE tracksolid.push_trip_reports (
    imei          text NOT NULL,
    start_time    timestamptz NOT NULL,
    end_time      timestamptz,
    start_lat     double precision,
    start_lng     double precision,
    end_lat       double precision,
    end_lng       double precision,
    distance_km   numeric,
    avg_speed_kmh numeric,
    max_speed_kmh numeric,
    run_time_s    integer,
    fuel_l        numeric,
    raw           jsonb,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, start_time)
);
CREATE INDEX push_trip_reports_ingested_at_idx ON tracksolid.push_trip_reports (ingested_at);

-- ICCID / VIN reports (/pushalarm with type ICCID or VIN). History kept; devices.iccid / vin follow the latest.
CREATE TABLE tracksolid.device_attribute_reports (
    imei        text NOT NULL,
    attribute   text NOT NULL CHECK (attribute IN ('iccid', 'vin')),
    reported_at timestamptz NOT NULL,
    value       text NOT NULL,
    raw         jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (imei, attribute, reported_at)
);
CREATE INDEX device_attribute_reports_ingested_at_idx ON tracksolid.device_attribute_reports (ingested_at);

-- Replays are acknowledged without re-processing; count them so the inbox shows what the sender retried.
ALTER TABLE tracksolid.push_inbox
    ADD COLUMN replay_count     integer NOT NULL DEFAULT 0,
    ADD COLUMN last_replayed_at timestamptz;

COMMENT ON TABLE tracksolid.fault_codes IS 'OBD fault codes from /pushfaultinfo (raw item kept)';
COMMENT ON TABLE tracksolid.lbs_readings IS 'LBS / Wi-Fi location reports from /pushlbs (raw item kept)';
COMMENT ON TABLE tracksolid.push_trip_reports IS 'Trip reports from /pushtripreport (raw item kept; units unconfirmed)';
COMMENT ON TABLE tracksolid.device_attribute_reports IS 'ICCID / VIN reports from /pushalarm';
