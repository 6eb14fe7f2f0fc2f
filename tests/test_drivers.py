"""Driver CSV import (dry run / apply / bad rows by line) and the API ↔ DB audit against the simulator."""

from __future__ import annotations

import textwrap

import pytest

from fleet_ops import audit, drivers
from tests.conftest import REPO_ROOT
from tests.fixtures.databases import scalar
from tracksolid_simulator import Fleet, SimulatorConfig

DEVICE_COLUMNS = ("imei", "account", "device_name", "license_plate_no", "driver_name", "driver_phone",
                  "assigned_city")


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def _imei(body14: str) -> str:
    """A valid IMEI: 14 digits + the Luhn check digit."""
    return next(body14 + d for d in "0123456789" if drivers.luhn_ok(body14 + d))


def _devices(conn) -> dict[str, tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT imei, license_plate_no, vehicle_name, vehicle_models, driver_name, driver_phone,"
                    " assigned_city, is_registered FROM tracksolid.devices ORDER BY imei")
        return {r[0]: r[1:] for r in cur.fetchall()}


A, B, C = _imei("86000000000001"), _imei("86000000000002"), _imei("86000000000003")
BAD_LUHN = A[:-1] + str((int(A[-1]) + 1) % 10)

CSV = textwrap.dedent(f"""\
    imei,plate,vehicle_name,vehicle_model,driver_name,driver_phone,city
    {A},kda 123a,Van 1,Toyota Hiace,Jane Wanjiru,+254 712 345 678,nairobi
    {B},KDB 9B,,,Peter Otieno,0722-000-111,Mombasa
    12345,KDC 1C,,,X,,Nairobi
    {BAD_LUHN},KDD 1D,,,Y,,Nairobi
    {C},KD@ 7,,,Z,,Nairobi
    {C},KDE 5E,,,Z,(07) 33 444 555,Kisumu
    {C},KDF 6F,,,Zed,+254733444555,Kampala
    {A},KDA 999X,,,Dup,,Nairobi
    {B},too,many,fields,here,x,y,z
    """)
EXPECTED_BAD = {  # line -> reason fragment (the header is line 1)
    4: "not 15 digits", 5: "Luhn", 6: "plate 'KD@ 7'", 7: "city 'Kisumu'", 9: "duplicate IMEI (first on line 2)",
    10: "8 fields, the header has 7",
}


def test_dry_run_changes_nothing_then_apply_upserts_exactly_the_valid_rows(live_conn, tmp_path):
    with live_conn.cursor() as cur:
        cur.execute("INSERT INTO tracksolid.devices (imei, account, device_name, license_plate_no, driver_name,"
                    " assigned_city) VALUES (%s, 'acct', 'AT4-1', 'OLD 1', NULL, 'Nairobi')", (A,))
    before = _devices(live_conn)
    dry = drivers.run(live_conn, CSV)  # dry_run is the default
    assert _devices(live_conn) == before
    assert {b["line"]: b["reason"] for b in dry["bad"]}.keys() == EXPECTED_BAD.keys()
    for bad in dry["bad"]:
        assert EXPECTED_BAD[bad["line"]] in bad["reason"], bad
    assert (dry["valid_rows"], dry["would_insert"], dry["would_update"]) == (3, 2, 1)
    update = next(c for c in dry["changes"] if c["imei"] == A)
    assert update["fields"]["license_plate_no"] == ["OLD 1", "KDA 123A"]
    assert update["fields"]["driver_name"] == [None, "Jane Wanjiru"]
    assert "assigned_city" not in update["fields"]  # 'nairobi' normalises to the unchanged 'Nairobi'

    applied = drivers.run(live_conn, CSV, dry_run=False)
    assert (applied["inserted"], applied["updated"], applied["bad_rows"]) == (2, 1, 6)
    after = _devices(live_conn)
    assert set(after) == {A, B, C}
    assert after[A] == ("KDA 123A", "Van 1", "Toyota Hiace", "Jane Wanjiru", "+254712345678", "Nairobi", True)
    assert after[B] == ("KDB 9B", None, None, "Peter Otieno", "0722000111", "Mombasa", False)
    assert after[C] == ("KDF 6F", None, None, "Zed", "+254733444555", "Kampala", False)
    # Idempotent: applying again changes nothing.
    again = drivers.run(live_conn, CSV, dry_run=False)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)


def test_file_level_errors_are_clear(live_conn):
    with pytest.raises(drivers.ImportFileError, match="empty"):
        drivers.run(live_conn, "")
    with pytest.raises(drivers.ImportFileError, match="header must name 'imei'"):
        drivers.run(live_conn, "plate,colour\nKDA 1A,red\n")
    with pytest.raises(ValueError, match="exactly one of"):
        drivers.read_source(None, None)


def test_import_dag_from_an_object_key(airflow_db, airflow_db_conns, fleet_s3, live_conn):
    fleet_s3.client.put_object(Bucket=fleet_s3.bucket, Key="imports/drivers.csv", Body=("\ufeff" + CSV).encode())
    dag = _dag("drivers_import")
    assert dag.params["dry_run"] is True
    assert dag.test(run_conf={"key": "imports/drivers.csv"}).state == "success"
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.devices") == 0  # dry run by default
    assert dag.test(run_conf={"key": "imports/drivers.csv", "dry_run": False}).state == "success"
    assert set(_devices(live_conn)) == {A, B, C}
    assert dag.test(run_conf={"key": "imports/missing.csv"}).state == "failed"


def test_audit_finds_planted_gaps_against_the_simulator_over_http(airflow_db, airflow_db_conns, tracksolid_conn,
                                                                  live_conn):
    fleet = Fleet(SimulatorConfig(devices=12, accounts=2, seed=7))  # the fixture's fleet: its ground truth
    truth = {d["imei"]: d for d in fleet.truth.devices()}
    imeis = sorted(truth)
    missing_in_db, no_driver, no_plate, silent = imeis[0], imeis[1], imeis[2], imeis[3]
    extra = _imei("86999999999999")
    with live_conn.cursor() as cur:
        for imei in imeis[1:]:
            row = dict(truth[imei])
            if imei == no_driver:
                row["driver_name"] = ""
            if imei == no_plate:
                row["license_plate_no"] = None
            cur.execute(f"INSERT INTO tracksolid.devices ({', '.join(DEVICE_COLUMNS)}) VALUES"
                        f" ({', '.join(['%s'] * len(DEVICE_COLUMNS))})", [row.get(c) for c in DEVICE_COLUMNS])
        cur.execute("INSERT INTO tracksolid.devices (imei, account, device_name) VALUES (%s, 'gone', 'Old van')",
                    (extra,))
        for imei in imeis[1:]:
            if imei != silent:
                cur.execute("INSERT INTO tracksolid.live_positions (imei, gps_time) VALUES (%s, now())", (imei,))
    # The oracle: gaps the simulator itself has (devices without a driver name or plate) plus the planted ones.
    expected = {("missing_in_db", missing_in_db), ("missing_in_api", extra), ("missing_driver_name", no_driver),
                ("missing_plate", no_plate), ("never_reported", silent), ("never_reported", extra),
                ("missing_driver_name", extra), ("missing_plate", extra)}
    for imei, d in truth.items():
        if imei == missing_in_db:
            continue
        if not (d.get("driver_name") or "").strip():
            expected.add(("missing_driver_name", imei))
        if not (d.get("license_plate_no") or "").strip():
            expected.add(("missing_plate", imei))

    dag = _dag("driver_audit")
    run = dag.test()
    assert run.state == "success"
    with live_conn.cursor() as cur:
        cur.execute("SELECT finding, imei FROM ops.v_driver_audit_latest")
        found = set(cur.fetchall())
    assert found == expected
    assert scalar(live_conn, "SELECT api_devices FROM ops.driver_audit_runs") == len(truth)
    # The API side really went over HTTP: the hook logged its device.list calls.
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.ingestion_log WHERE method = 'jimi.user.device.list'"
                             " AND http_status = 200") >= 2
    assert scalar(live_conn, "SELECT vehicle FROM ops.v_driver_audit_latest WHERE finding = 'missing_in_api'") \
        == "Old van"


def test_audit_compare_is_pure():
    api = [{"imei": "1", "driver_name": "A", "license_plate_no": "P"}]
    db = [{"imei": "1", "driver_name": "A", "license_plate_no": "P", "is_active": True, "has_position": True},
          {"imei": "2", "is_active": False, "has_position": False}]
    assert audit.compare(api, db) == []  # an inactive device missing from the API is already known
