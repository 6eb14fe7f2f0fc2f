-- Push quarantine and the event-time plausibility window (issue 12; contract C4).
--
-- A well-formed push request stores its good items and quarantines the unreadable ones here, each with its
-- reason, so a platform retry is never stuck on one bad item (the whole request, as sent, is in push_inbox
-- either way). Items whose event time is outside the plausibility window (tracksolid_hook.plausibility) are
-- quarantined with reason 'implausible_time': kept, but they never reach the data tables, so they never move
-- live state. API rows with an implausible time are recorded in implausible_api_rows for the same reason.

CREATE TABLE tracksolid.push_quarantine (
    id          bigserial PRIMARY KEY,
    inbox_id    bigint NOT NULL REFERENCES tracksolid.push_inbox (id),
    path        text NOT NULL,
    item_index  integer NOT NULL,
    reason      text NOT NULL,          -- the rule: invalid_value, missing_field, implausible_time, ...
    detail      text NOT NULL,          -- every problem of the item, each naming data_list[i].field
    item        jsonb,                  -- the item as sent (NUL characters replaced by U+FFFD)
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (inbox_id, item_index)
);
CREATE INDEX push_quarantine_received_at_idx ON tracksolid.push_quarantine (received_at);

CREATE TABLE tracksolid.implausible_api_rows (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,          -- poll, track_list, trips, parking, alarms, obd
    table_name  text NOT NULL,          -- the table the row was meant for
    imei        text NOT NULL,
    event_time  timestamptz NOT NULL,
    raw         jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (table_name, imei, event_time)  -- a poll every minute re-reports the same frozen fix: once
);
CREATE INDEX implausible_api_rows_recorded_at_idx ON tracksolid.implausible_api_rows (recorded_at);

INSERT INTO tracksolid.settings (key, value, description) VALUES
    ('plausible_time_max_future_s', 600,
     'event times later than now + this many seconds are implausible (kept aside, never move live state)'),
    ('plausible_time_floor_year', 2010,
     'event times before 1 January of this year (UTC) are implausible (device clock not set)')
ON CONFLICT (key) DO NOTHING;

CREATE VIEW tracksolid.v_push_quarantine_daily AS
SELECT (q.received_at AT TIME ZONE 'Africa/Nairobi')::date AS day,
       q.path,
       q.reason,
       count(*) AS items
FROM tracksolid.push_quarantine AS q
GROUP BY 1, 2, 3;

CREATE VIEW tracksolid.v_implausible_times_daily AS
SELECT day, source, sum(items)::bigint AS items
FROM (
    SELECT (q.received_at AT TIME ZONE 'Africa/Nairobi')::date AS day, 'push'::text AS source, count(*) AS items
    FROM tracksolid.push_quarantine AS q
    WHERE q.reason = 'implausible_time'
    GROUP BY 1
    UNION ALL
    SELECT (a.recorded_at AT TIME ZONE 'Africa/Nairobi')::date, a.source, count(*)
    FROM tracksolid.implausible_api_rows AS a
    GROUP BY 1, 2
) AS counts
GROUP BY day, source;

COMMENT ON TABLE tracksolid.push_quarantine IS
    'Push items that could not be stored (one row per item, with its reason); the request is in push_inbox';
COMMENT ON TABLE tracksolid.implausible_api_rows IS
    'API rows whose event time is outside the plausibility window: kept here, never loaded, never move live state';
COMMENT ON VIEW tracksolid.v_push_quarantine_daily IS
    'Quarantined push items per local day (Africa/Nairobi), path and reason (Pipeline health)';
COMMENT ON VIEW tracksolid.v_implausible_times_daily IS
    'Items / rows with an implausible event time per local day and source (push or the API source)';

GRANT SELECT ON tracksolid.v_push_quarantine_daily, tracksolid.v_implausible_times_daily TO grafana_ro;

-- One pos_type vocabulary for push and polling: the push stored the raw code ('1'), polling the text ('GPS').
-- From now on the receiver stores the text (tracksolid_hook.parsers.POS_TYPES); rows already stored follow.
UPDATE tracksolid.position_history
SET pos_type = CASE pos_type WHEN '1' THEN 'GPS' WHEN '2' THEN 'LBS' WHEN '3' THEN 'WIFI' WHEN '5' THEN 'BEACON' END
WHERE source = 'push' AND pos_type IN ('1', '2', '3', '5');
UPDATE tracksolid.live_positions
SET pos_type = CASE pos_type WHEN '1' THEN 'GPS' WHEN '2' THEN 'LBS' WHEN '3' THEN 'WIFI' WHEN '5' THEN 'BEACON' END
WHERE source = 'push' AND pos_type IN ('1', '2', '3', '5');
UPDATE tracksolid.lbs_readings
SET post_type = CASE post_type WHEN '1' THEN 'GPS' WHEN '2' THEN 'LBS' WHEN '3' THEN 'WIFI' WHEN '5' THEN 'BEACON' END
WHERE post_type IN ('1', '2', '3', '5');
