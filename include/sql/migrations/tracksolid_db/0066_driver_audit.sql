-- Driver / vehicle audit (SPEC §9, contract C3): the findings of each driver_audit run, API <-> DB.
CREATE TABLE ops.driver_audit_runs (
    run_id       bigserial PRIMARY KEY,
    checked_at   timestamptz NOT NULL DEFAULT now(),
    dag_run_id   text,
    api_devices  integer NOT NULL,
    db_devices   integer NOT NULL,
    findings     integer NOT NULL
);
COMMENT ON TABLE ops.driver_audit_runs IS 'One row per driver_audit run: what was compared';

CREATE TABLE ops.driver_audit_findings (
    id         bigserial PRIMARY KEY,
    run_id     bigint NOT NULL REFERENCES ops.driver_audit_runs (run_id) ON DELETE CASCADE,
    checked_at timestamptz NOT NULL,
    finding    text NOT NULL CHECK (finding IN ('missing_in_db', 'missing_in_api', 'missing_driver_name',
                                                'missing_plate', 'never_reported')),
    imei       text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (run_id, finding, imei)
);
CREATE INDEX driver_audit_findings_checked_idx ON ops.driver_audit_findings (checked_at);
COMMENT ON TABLE ops.driver_audit_findings IS 'Findings of the driver_audit DAG, one row per (run, finding, imei)';

CREATE VIEW ops.v_driver_audit_latest AS
SELECT f.checked_at,
       f.finding,
       f.imei,
       coalesce(nullif(d.device_name, ''), nullif(d.license_plate_no, ''),
                nullif(f.detail ->> 'device_name', ''), f.imei) AS vehicle,
       f.detail
FROM ops.driver_audit_findings f
LEFT JOIN tracksolid.devices d ON d.imei = f.imei
WHERE f.run_id = (SELECT max(run_id) FROM ops.driver_audit_runs);
COMMENT ON VIEW ops.v_driver_audit_latest IS
    'Findings of the latest driver_audit run (Pipeline health): devices in the API or the DB only, missing '
    'driver names or plates, devices that never reported';

GRANT SELECT ON ops.driver_audit_runs, ops.driver_audit_findings, ops.v_driver_audit_latest TO grafana_ro;
