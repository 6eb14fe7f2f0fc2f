-- Fleet alerts (SPEC §9, contract C3): one row per alert episode. An episode opens once, its level only
-- rises (re-notified on each escalation), and it closes when the condition clears; the next occurrence is
-- a new row. `subject` names what the alert is about: the IMEI, or the ticket for SLA breaches.
CREATE TABLE ops.fleet_alerts (
    alert_id            bigserial PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('silent', 'not_moved', 'idling', 'sla_breach')),
    subject             text NOT NULL,
    imei                text,
    level               text NOT NULL,
    level_rank          integer NOT NULL,
    opened_at           timestamptz NOT NULL,
    escalated_at        timestamptz,
    closed_at           timestamptz,
    last_evaluated_at   timestamptz NOT NULL,
    last_notified_level text,
    last_notified_at    timestamptz,
    detail              jsonb NOT NULL DEFAULT '{}'::jsonb
);
-- At most one open episode per kind and subject.
CREATE UNIQUE INDEX fleet_alerts_open_uq ON ops.fleet_alerts (kind, subject) WHERE closed_at IS NULL;
CREATE INDEX fleet_alerts_imei_idx ON ops.fleet_alerts (imei, opened_at);
COMMENT ON TABLE ops.fleet_alerts IS
    'Fleet alert episodes (silent, not_moved, idling, sla_breach), written by the fleet_alerts DAG';

-- Thresholds of the alert DAG (the silent buckets are in 0004).
INSERT INTO tracksolid.settings (key, value, description) VALUES
    ('not_moved_local_hour', 10, 'fleet alert: an active vehicle that has not moved by this local hour (EAT) today'),
    ('idle_alert_minutes', 30, 'fleet alert: engine on and stationary for longer than this many minutes'),
    ('alert_fresh_fix_s', 1800, 'fleet alert: idling is judged only on a live fix younger than this')
ON CONFLICT (key) DO NOTHING;

CREATE VIEW ops.v_open_fleet_alerts AS
SELECT a.alert_id,
       a.kind,
       a.imei,
       coalesce(nullif(d.device_name, ''), nullif(d.license_plate_no, ''), a.imei, a.subject) AS vehicle,
       coalesce(d.assigned_city, a.detail ->> 'city') AS city,
       a.level,
       a.opened_at,
       now() - a.opened_at AS age,
       a.detail
FROM ops.fleet_alerts a
LEFT JOIN tracksolid.devices d ON d.imei = a.imei
WHERE a.closed_at IS NULL;
COMMENT ON VIEW ops.v_open_fleet_alerts IS
    'Open fleet alerts for the NOC dashboard: one row per open episode, vehicle display name and city';

GRANT SELECT ON ops.fleet_alerts, ops.v_open_fleet_alerts TO grafana_ro;
