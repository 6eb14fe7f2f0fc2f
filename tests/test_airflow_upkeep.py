"""airflow_db_cleanup: `airflow db clean` on the (SQLite) test metadata DB and log-file rotation."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest

from fleet_ops.airflow_upkeep import clean_logs, db_clean_command
from tests.conftest import REPO_ROOT


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    dag = bag.dags[dag_id]
    for t in dag.tasks:
        t.retries = 0
    return dag


def _runs(dag_id: str) -> list[int]:
    """Years of the logical dates of the DAG's runs in the metadata DB."""
    path = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT logical_date FROM dag_run WHERE dag_id = ?", (dag_id,)).fetchall()
    return sorted(int(r[0][:4]) for r in rows)


def _plant(folder, name: str, age_days: float) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("log line\n")
    stamp = time.time() - age_days * 86400
    os.utime(path, (stamp, stamp))
    return str(path)


def test_clean_logs_deletes_only_old_files(tmp_path):
    old = [_plant(tmp_path, "dag_id=a/run_id=1/task_id=t/attempt=1.log", 20),
           _plant(tmp_path, "dag_id=a/run_id=2/task_id=t/attempt=1.log", 15)]
    new = [_plant(tmp_path, "dag_id=a/run_id=3/task_id=t/attempt=1.log", 1),
           _plant(tmp_path, "dag_processor/latest.log", 0)]
    for d in ("dag_id=a/run_id=1/task_id=t", "dag_id=a/run_id=1", "dag_id=a/run_id=2/task_id=t", "dag_id=a/run_id=2"):
        stamp = time.time() - 20 * 86400
        os.utime(tmp_path / d, (stamp, stamp))
    cutoff = datetime.now(UTC) - timedelta(days=14)
    dry = clean_logs(tmp_path, cutoff, dry_run=True)
    assert dry["files"] == 2 and all(os.path.exists(p) for p in old + new)
    done = clean_logs(tmp_path, cutoff)
    assert done["files"] == 2 and done["bytes"] == 2 * len("log line\n")
    assert not any(os.path.exists(p) for p in old) and all(os.path.exists(p) for p in new)
    assert not (tmp_path / "dag_id=a" / "run_id=1").exists() and (tmp_path / "dag_id=a" / "run_id=3").exists()
    assert clean_logs(tmp_path / "missing", cutoff)["files"] == 0


def test_db_clean_command():
    cmd = db_clean_command(datetime(2026, 1, 1, tzinfo=UTC), ("dag_run", "xcom"), dry_run=True)
    assert cmd[1:] == ["db", "clean", "--clean-before-timestamp", "2026-01-01T00:00:00+00:00", "--tables",
                       "dag_run,xcom", "--skip-archive", "--yes", "--dry-run"]
    with pytest.raises(ValueError):
        db_clean_command(datetime(2026, 1, 1))


def test_cleanup_dag_purges_old_runs_and_logs(airflow_db, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(tmp_path))
    old_log = _plant(tmp_path, "dag_id=x/run_id=old/task_id=t/attempt=1.log", 40)
    dag = _dag("airflow_db_cleanup")
    # Two old runs of this DAG (logical dates years ago; dry runs, so they purge nothing themselves).
    for year in (2020, 2021):
        run = dag.test(logical_date=datetime(year, 1, 1, tzinfo=UTC), run_conf={"dry_run": True})
        assert run.state == "success"
    assert _runs("airflow_db_cleanup") == [2020, 2021] and os.path.exists(old_log)

    dry = dag.test(run_conf={"dry_run": True})
    assert dry.state == "success"
    this_year = datetime.now(UTC).year
    assert _runs("airflow_db_cleanup") == [2020, 2021, this_year] and os.path.exists(old_log)

    real = dag.test(run_conf={"keep_days": 30, "log_keep_days": 14, "dry_run": False})
    assert real.state == "success"
    # The two old runs are gone; the two recent runs stay.
    assert _runs("airflow_db_cleanup") == [this_year, this_year]
    assert not os.path.exists(old_log)
