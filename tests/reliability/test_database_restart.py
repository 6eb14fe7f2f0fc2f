"""Database restarted mid-DAG and mid-bronze-load: tasks fail, retries converge, no duplicates.

A scratch PostgreSQL 15 cluster (tests/reliability/scratch_cluster.py) holds both databases; the test stops
it with ``pg_ctl stop -m immediate`` (every connection cut, crash recovery) and starts it again at a fixed
point: while an endpoint DAG's mapped task is between two API calls, and inside a bronze load's ``COPY``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from fleet_db.settings import postgres_conn_json
from fleet_dwh.tables import INCREMENTAL, TABLES
from tests.fixtures.databases import scalar
from tests.fixtures.dwh import compare_bronze, fill_live
from tests.fixtures.simulator import tracksolid_conn_json
from tests.reliability.endpoint_runs import compare, db_set, duplicate_keys, run_dag, task_tries, truth_set
from tests.reliability.scratch_cluster import ScratchCluster
from tests.test_endpoint_dags import FIX_FIELDS

DAY = datetime(2024, 5, 6, tzinfo=UTC)
DAY_END = DAY + timedelta(days=1)
SIM_NOW = DAY_END + timedelta(hours=12)
COMMAND = "pytest tests/reliability/test_database_restart.py"
#: The bronze run's tables: snapshot and incremental ones (a subset keeps the DAG run short).
BRONZE_TABLES = ("devices", "live_positions", "position_history", "alarms", "trips")


@pytest.fixture(scope="module")
def cluster():
    c = ScratchCluster()
    try:
        c.init()
        c.start()
        c.create_migrated("tpl_live", "tracksolid_db")
        c.create_migrated("tpl_dwh", "tracksolid_dwh")
        yield c
    finally:
        c.destroy()


@pytest.fixture
def scratch_dbs(cluster, airflow_db, monkeypatch):
    """Fresh live + warehouse databases on the scratch cluster behind the Airflow connections."""
    tag = uuid.uuid4().hex[:6]
    live = cluster.copy_database("tpl_live", f"live_{tag}")
    dwh = cluster.copy_database("tpl_dwh", f"dwh_{tag}")
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_DB", postgres_conn_json(live))
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_DWH", postgres_conn_json(dwh))
    return live, dwh


def _connect(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


def test_restart_mid_endpoint_dag_converges_to_the_truth(cluster, scratch_dbs, dagbag, simulator_factory,
                                                         monkeypatch, tmp_path, record_figure):
    from tracksolid_simulator import api

    live_dsn, _ = scratch_dbs
    monkeypatch.setenv("TRACKSOLID_RATE_LIMIT_DIR", str(tmp_path / "rate"))
    server = simulator_factory(clock_start=SIM_NOW, clock_speed=0, devices=8, accounts=2, seed=7)
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API",
                       tracksolid_conn_json(server, max_requests_per_s=200.0, timeout_s=20.0))
    day = {"start": DAY.isoformat(), "end": DAY_END.isoformat()}
    run_dag(dagbag, "tracksolid_devices", conf=day)
    expected = truth_set(server.truth.fixes(DAY - timedelta(minutes=5), DAY_END, arrived_by=SIM_NOW), FIX_FIELDS)

    # Kill point: the second track.list request restarts the database before it is answered. The mapped task
    # making it holds connections opened before the restart (its loader's, the audit log's).
    original = api.HANDLERS["jimi.device.track.list"]
    calls = {"n": 0, "restart_s": None}

    def restarting_track_list(app, params, token, entry, empty):
        calls["n"] += 1
        if calls["n"] == 2:
            calls["restart_s"] = cluster.restart("immediate")
        return original(app, params, token, entry, empty)

    monkeypatch.setitem(api.HANDLERS, "jimi.device.track.list", restarting_track_list)
    dagrun = run_dag(dagbag, "tracksolid_track_list", conf=day)
    tries = task_tries("tracksolid_track_list", dagrun.run_id)

    conn = _connect(live_dsn)
    try:
        result = compare(db_set(conn, "tracksolid.position_history", FIX_FIELDS), expected, 2)
        duplicates = duplicate_keys(conn, "tracksolid.position_history", ("imei", "gps_time"))
        rerun_before = scalar(conn, "SELECT count(*) FROM tracksolid.position_history")
        run_dag(dagbag, "tracksolid_track_list", conf=day)  # a re-run of the window adds nothing
        rerun_after = scalar(conn, "SELECT count(*) FROM tracksolid.position_history")
    finally:
        conn.close()

    mismatches = result["missing"] + result["extra"] + result["differing"]
    restarted = 1 if calls["restart_s"] is not None else 0
    record_figure("endpoint DAG: database restarts (immediate) mid-run", restarted, unit="restarts",
                  command=COMMAND + "::test_restart_mid_endpoint_dag_converges_to_the_truth")
    record_figure("endpoint DAG: task retries caused by the restart", tries["extra_tries"], unit="tries",
                  command=COMMAND + "::test_restart_mid_endpoint_dag_converges_to_the_truth")
    record_figure("endpoint DAG: rows compared with the truth after convergence", result["truth_rows"], unit="rows",
                  command=COMMAND + "::test_restart_mid_endpoint_dag_converges_to_the_truth")
    record_figure("endpoint DAG: mismatches / duplicate keys", f"{mismatches} / {duplicates}",
                  command=COMMAND + "::test_restart_mid_endpoint_dag_converges_to_the_truth")
    assert calls["restart_s"] is not None, "the kill point was never reached"
    assert tries["extra_tries"] >= 1, "the restart should have failed the running task"
    assert result["truth_rows"] > 0 and mismatches == 0, result
    assert duplicates == 0 and rerun_after == rerun_before


class _KillOnFirstRead:
    """A download stream that calls ``kill`` when the COPY reading it asks for its first bytes."""

    def __init__(self, body, kill):
        self._body, self._kill = body, kill

    def read(self, *args):
        if self._kill is not None:
            kill, self._kill = self._kill, None
            kill()
        return self._body.read(*args)

    def close(self):
        self._body.close()


class _KillingStore:
    """Stands in for :class:`ObjectStore` in ``_copy_object``: the object's body kills the database."""

    def __init__(self, store, kill):
        self.bucket = store.bucket
        outer = self

        class _Hook:
            def get_key(self, key, bucket_name=None):
                obj = store.hook.get_key(key, bucket_name=bucket_name)

                class _Obj:
                    def get(self_inner):
                        response = obj.get()
                        return {**response, "Body": _KillOnFirstRead(response["Body"], outer.kill)}

                return _Obj()

        self.hook = _Hook()
        self.kill = kill


def test_restart_mid_bronze_load_converges_with_consistent_watermarks(cluster, scratch_dbs, dagbag, fleet_s3,
                                                                      monkeypatch, capfd, record_figure):
    from fleet_dwh import bronze
    from fleet_dwh.objectstore import ObjectStore

    tables = [t for t in TABLES if t.name in BRONZE_TABLES]
    live_dsn, dwh_dsn = scratch_dbs
    live_conn, dwh_conn = _connect(live_dsn), _connect(dwh_dsn)
    try:
        fill_live(live_conn, devices=4, fixes_per_device=500)
        original = bronze._copy_object
        killed = {"table": None}

        def copy_with_kill_point(cur, target, columns, store, key):
            if killed["table"] is None and key.startswith("dwh/exports/position_history/"):
                killed["table"] = "position_history"
                store = _KillingStore(store, lambda: cluster.restart("immediate"))
            return original(cur, target, columns, store, key)

        monkeypatch.setattr(bronze, "_copy_object", copy_with_kill_point)
        conf = {"tables": list(BRONZE_TABLES), "safety_lag_s": 0, "bucket": None}
        dagrun = run_dag(dagbag, "dwh_bronze", conf=conf, logical_date=None)
        tries = task_tries("dwh_bronze", dagrun.run_id)
        output = capfd.readouterr().out
        live_conn.close()
        dwh_conn.close()
        live_conn, dwh_conn = _connect(live_dsn), _connect(dwh_dsn)

        report = compare_bronze(live_conn, dwh_conn, tables)
        differing = {n: r for n, r in report.items() if r["missing"] or r["extra"] or r["live"] != r["bronze"]}
        duplicates = sum(duplicate_keys(dwh_conn, t.qualified, t.key) for t in tables)
        with dwh_conn.cursor() as cur:
            cur.execute("SELECT r.table_name, r.status, r.watermark_to, w.watermark_value"
                        " FROM dwh_control.extract_runs r JOIN dwh_control.extract_watermarks w USING (table_name)"
                        " WHERE r.run_id = %s", (dagrun.run_id,))
            runs = {name: (status, wm_to, wm) for name, status, wm_to, wm in cur.fetchall()}
        incremental = {t.name for t in tables if t.mode == INCREMENTAL}
        inconsistent = sorted(n for n in incremental if runs[n][0] != "loaded" or runs[n][1] != runs[n][2])

        # A second run (plain function, the same store) finds nothing new: the first one converged.
        second = bronze.run_bronze(live_conn, dwh_conn, ObjectStore.from_connection(), "after-restart",
                                   list(BRONZE_TABLES))
        again = {r["table"]: r for r in second}
    finally:
        live_conn.close()
        dwh_conn.close()

    cmd = COMMAND + "::test_restart_mid_bronze_load_converges_with_consistent_watermarks"
    record_figure("bronze: database restarts (immediate) inside a load's COPY", 1 if killed["table"] else 0,
                  unit="restarts", command=cmd)
    record_figure("bronze: task retries caused by the restart", tries["extra_tries"], unit="tries", command=cmd)
    record_figure("bronze: tables compared with live after convergence", len(report), unit="tables", command=cmd)
    record_figure("bronze: rows compared with live", sum(r["live"] for r in report.values()), unit="rows",
                  command=cmd)
    record_figure("bronze: tables differing / duplicate keys / inconsistent watermarks",
                  f"{len(differing)} / {duplicates} / {len(inconsistent)}", command=cmd)
    assert killed["table"] == "position_history", "the kill point was never reached"
    assert tries["extra_tries"] >= 1, "the restart should have failed the load task"
    assert not differing, differing
    assert duplicates == 0
    # The task failed with the database's own error, not a follow-up "connection already closed".
    assert "server closed the connection unexpectedly" in output
    assert "InterfaceError: connection already closed" not in output
    assert set(runs) == set(BRONZE_TABLES) and {s for s, _, _ in runs.values()} == {"loaded"}, runs
    assert not inconsistent, {n: runs[n] for n in inconsistent}
    assert {r["status"] for r in again.values()} == {"loaded"}, again
    assert all(again[n]["rows"] == 0 for n in incremental), again
