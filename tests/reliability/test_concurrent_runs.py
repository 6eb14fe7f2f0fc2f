"""Two runs of one window at once: no duplicates, and one token request between them.

Two processes each run ``dag.test()`` of the trips DAG over the same manual window, released together from
a barrier, against one simulator and one live database whose token cache starts empty. The simulator holds
the first track.mileage request until the other run's first one arrives, so the two runs' API calls and
upserts overlap for certain (a mapped task's calls are sequential within one run).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
from airflow.models.dagbag import DagBag

from tests.conftest import REPO_ROOT
from tests.fixtures.simulator import tracksolid_conn_json
from tests.reliability.endpoint_runs import compare, db_set, duplicate_keys, rows, run_dag, token_calls, truth_set
from tests.test_endpoint_dags import TRIP_FIELDS

DAY = datetime(2024, 5, 6, tzinfo=UTC)
DAY_END = DAY + timedelta(days=1)
SIM_NOW = DAY_END + timedelta(hours=12)
COMMAND = "pytest tests/reliability/test_concurrent_runs.py"
RUNS = 2


def _metadata_copy(target_dir) -> dict[str, str]:
    """A private copy of the session's migrated Airflow metadata DB (SQLite); returns the env overrides."""
    source = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    target_dir.mkdir(parents=True)
    target = target_dir / "airflow.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return {"AIRFLOW_HOME": str(target_dir), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{target}"}


def test_two_runs_of_one_window_at_once_add_no_duplicates_and_share_one_token(
        airflow_db, airflow_db_conns, simulator_factory, monkeypatch, tmp_path, record_figure):
    from tracksolid_simulator import api

    monkeypatch.setenv("TRACKSOLID_RATE_LIMIT_DIR", str(tmp_path / "rate"))
    server = simulator_factory(clock_start=SIM_NOW, clock_speed=0, devices=8, accounts=2, seed=7)
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API",
                       tracksolid_conn_json(server, max_requests_per_s=200.0, timeout_s=60.0))
    day = {"start": DAY.isoformat(), "end": DAY_END.isoformat()}
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    run_dag(bag, "tracksolid_devices", conf=day)
    conn = psycopg2.connect(airflow_db_conns["tracksolid_db"])
    conn.autocommit = True
    try:
        with conn.cursor() as cur:  # both runs start without a cached token: they must not both fetch one
            cur.execute("DELETE FROM tracksolid.api_token_cache")
        server.clear_request_log()
        original = api.HANDLERS["jimi.device.track.mileage"]
        meet, lock, seen = threading.Barrier(RUNS, timeout=120), threading.Lock(), [0]

        def rendezvous(app, params, token, entry, empty):
            with lock:
                seen[0] += 1
                first = seen[0] <= RUNS
            if first:  # the first request of each run waits for the other's
                meet.wait()
            return original(app, params, token, entry, empty)

        monkeypatch.setitem(api.HANDLERS, "jimi.device.track.mileage", rendezvous)

        barrier = tmp_path / "barrier"
        barrier.mkdir()
        base_env = {**os.environ,
                    "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "include"), str(REPO_ROOT),
                                                   os.environ.get("PYTHONPATH", "")])}
        procs = []
        for n in range(RUNS):
            env = {**base_env, **_metadata_copy(tmp_path / f"airflow-{n}")}
            out = (tmp_path / f"run-{n}.log").open("w")
            procs.append((subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.concurrent_run", "tracksolid_trips", f"run-{n}",
                 str(barrier), str(RUNS), day["start"], day["end"], str(tmp_path / f"result-{n}.json")],
                cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT), out))
        results = []
        try:
            for n, (proc, out) in enumerate(procs):
                proc.wait(timeout=600)
                out.close()
                tail = Path(out.name).read_text()[-3000:] if proc.returncode else ""
                assert proc.returncode == 0, f"concurrent run failed ({proc.returncode}):\n{tail}"
                results.append(json.loads((tmp_path / f"result-{n}.json").read_text()))
        finally:
            for proc, out in procs:  # a failed peer never leaves the other one waiting at the barrier
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                out.close()

        log = server.request_log
        mileage = [e for e in log if e["method"] == "jimi.device.track.mileage"]
        tokens = token_calls(log)
        expected = truth_set(server.truth.trips(DAY - timedelta(hours=3), DAY_END, completed_by=SIM_NOW), TRIP_FIELDS)
        result = compare(db_set(conn, "tracksolid.trips", TRIP_FIELDS), expected, 2)
        duplicates = duplicate_keys(conn, "tracksolid.trips", ("imei", "start_time"))
        audited_runs = rows(conn, "SELECT DISTINCT run_id FROM tracksolid.ingestion_log"
                                  " WHERE method = 'jimi.device.track.mileage' AND api_code = '0'")
        overlap = _overlapping_calls(mileage)
    finally:
        conn.close()

    mismatches = result["missing"] + result["extra"] + result["differing"]
    record_figure("concurrent runs of one window", RUNS, unit="dag runs", command=COMMAND)
    record_figure("track.mileage calls (both runs)", len(mileage), unit="requests", command=COMMAND)
    record_figure("calls in flight at the same time as another", overlap, unit="requests", command=COMMAND)
    record_figure("token calls (token.get + token.refresh), empty cache at start", tokens, unit="requests",
                  command=COMMAND)
    record_figure("trips compared with the truth / mismatches / duplicate keys",
                  f"{result['truth_rows']} / {mismatches} / {duplicates}", command=COMMAND)

    assert len({r["run_id"] for r in results}) == RUNS
    assert {r[0] for r in audited_runs} == {r["run_id"] for r in results}, "both runs called the API"
    assert overlap > 0, "the two runs did not overlap; the test proves nothing"
    assert tokens == 1, f"{tokens} token requests: the shared cache should let one process fetch for both"
    assert result["truth_rows"] > 0 and mismatches == 0, result
    assert duplicates == 0


def _overlapping_calls(entries: list[dict]) -> int:
    """Requests whose [arrival, arrival + duration] overlaps another request's (simulator's own clock)."""
    spans = [(e["at"].timestamp(), e["at"].timestamp() + e["duration_ms"] / 1000) for e in entries]
    return sum(1 for i, (a, b) in enumerate(spans)
               if any(j != i and a < d and c < b for j, (c, d) in enumerate(spans)))
