"""Object store down during a bronze run: a clean failure, no watermark moved, the next run recovers.

The ``dwh_bronze`` DAG runs with ``dag.test()`` against a private moto S3 server; the server is stopped when
the first load of the run starts (after extracts uploaded their objects), so loads and later extracts meet a
dead endpoint. The server then comes back on the same port, empty (moto keeps no state), and a new run must
bring bronze back to the live tables without duplicates.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg2
from airflow.utils.state import DagRunState

from fleet_dwh.tables import TABLES
from tests.fixtures.dwh import BASE_TIME, compare_bronze, fill_live
from tests.reliability.endpoint_runs import duplicate_keys, run_dag, task_tries

COMMAND = "pytest tests/reliability/test_object_store_down.py"
BRONZE_TABLES = ("devices", "position_history", "alarms")


def _watermarks(conn) -> dict:
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, watermark_value FROM dwh_control.extract_watermarks")
        return dict(cur.fetchall())


def _runs(conn, run_id) -> dict[str, tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, status, error FROM dwh_control.extract_runs WHERE run_id = %s", (run_id,))
        return {name: (status, error) for name, status, error in cur.fetchall()}


def _bronze_counts(conn, tables) -> dict[str, int]:
    with conn.cursor() as cur:
        counts = {}
        for t in tables:
            cur.execute(f"SELECT count(*) FROM {t.qualified}")
            counts[t.name] = cur.fetchone()[0]
        return counts


def test_store_down_mid_run_fails_cleanly_and_the_next_run_recovers(airflow_db, airflow_db_conns, restartable_s3,
                                                                    dagbag, monkeypatch, record_figure):
    from fleet_dwh import bronze

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore's own retries: keep a dead endpoint's cost small
    tables = [t for t in TABLES if t.name in BRONZE_TABLES]
    conf = {"tables": list(BRONZE_TABLES), "safety_lag_s": 0, "bucket": None}
    live = psycopg2.connect(airflow_db_conns["tracksolid_db"])
    dwh = psycopg2.connect(airflow_db_conns["tracksolid_dwh"])
    live.autocommit = dwh.autocommit = True
    try:
        imeis = fill_live(live)
        run_dag(dagbag, "dwh_bronze", conf=conf)
        marks = _watermarks(dwh)
        bronze_before = _bronze_counts(dwh, tables)
        with live.cursor() as cur:  # new data arrives: the next run has rows to move
            for k in range(5):
                cur.execute("INSERT INTO tracksolid.position_history (imei, gps_time, lat, lng, source)"
                            " VALUES (%s, %s, -1.3, 36.8, 'poll')", (imeis[0], BASE_TIME + timedelta(hours=6 + k)))

        original = bronze.load_object
        stopped = {"at_load": None}

        def load_with_store_going_down(dwh_conn, store, manifest):
            if stopped["at_load"] is None:
                stopped["at_load"] = manifest["table"]
                restartable_s3.server.stop()
            return original(dwh_conn, store, manifest)

        monkeypatch.setattr(bronze, "load_object", load_with_store_going_down)
        failed_run = run_dag(dagbag, "dwh_bronze", conf=conf, expect=DagRunState.FAILED)
        monkeypatch.setattr(bronze, "load_object", original)
        failed_tries = task_tries("dwh_bronze", failed_run.run_id)
        failed_rows = _runs(dwh, failed_run.run_id)
        marks_after_failure = _watermarks(dwh)
        bronze_after_failure = _bronze_counts(dwh, tables)

        restartable_s3.server.start()  # same port, empty store: the bucket is created again
        restartable_s3.client.create_bucket(Bucket=restartable_s3.bucket)
        recovery = run_dag(dagbag, "dwh_bronze", conf=conf)
        recovered_rows = _runs(dwh, recovery.run_id)
        report = compare_bronze(live, dwh, tables)
        duplicates = sum(duplicate_keys(dwh, t.qualified, t.key) for t in tables)
        marks_after_recovery = _watermarks(dwh)
        failed_rows_closed = _runs(dwh, failed_run.run_id)
    finally:
        live.close()
        dwh.close()

    differing = {n: r for n, r in report.items() if r["missing"] or r["extra"] or r["live"] != r["bronze"]}
    record_figure("store stopped at the load of", stopped["at_load"], command=COMMAND)
    record_figure("failed run: extract_runs rows failed", sum(1 for s, _ in failed_rows.values() if s == "failed"),
                  unit=f"of {len(failed_rows)} rows", command=COMMAND)
    record_figure("failed run: task retries (each failed again while the store was down)",
                  failed_tries["extra_tries"], unit="tries", command=COMMAND)
    record_figure("failed run: watermarks moved", sum(1 for k in marks if marks_after_failure[k] != marks[k]),
                  unit="tables", command=COMMAND)
    record_figure("recovery run: tables loaded / differing from live / duplicate keys",
                  f"{sum(1 for s, _ in recovered_rows.values() if s == 'loaded')} / {len(differing)} / {duplicates}",
                  command=COMMAND)

    assert stopped["at_load"] in BRONZE_TABLES
    # Clean failure: every run row of the failed run failed, saying the store could not be reached.
    assert set(failed_rows) == set(BRONZE_TABLES), failed_rows
    assert {s for s, _ in failed_rows.values()} == {"failed"}, failed_rows
    assert all("could not connect to the endpoint url" in (e or "").lower() for _, e in failed_rows.values()), \
        failed_rows
    load_error = failed_rows[stopped["at_load"]][1]
    assert load_error.startswith("load failed (rolled back)"), load_error
    assert marks_after_failure == marks, "a failed run never moves a watermark"
    assert bronze_after_failure == bronze_before, "the failed loads rolled back"
    # Recovery: a new run loads everything, bronze equals live, no duplicates, watermarks advanced.
    assert {s for s, _ in recovered_rows.values()} == {"loaded"}, recovered_rows
    assert not differing, differing
    assert duplicates == 0
    assert marks_after_recovery["position_history"] > marks["position_history"]
    assert {s for s, _ in failed_rows_closed.values()} == {"failed"}
