"""Helpers of the end-to-end reliability tests: an endpoint DAG run, its retries, ground-truth comparison.

The comparison conventions (numbers as 6-place Decimals, the field lists) are those of
tests/test_endpoint_dags.py, imported from there so both suites compare the same way.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from airflow.utils.state import DagRunState

from tests.test_endpoint_dags import db_set, norm, rows, truth_set


def quick_retries(dag) -> None:
    """``dag.test()`` honours retry delays: keep each task's retries, make them quick."""
    for task in dag.tasks:
        task.retry_delay = timedelta(seconds=1)
        task.max_retry_delay = timedelta(seconds=2)


def run_dag(dagbag, dag_id: str, *, conf: dict | None = None, logical_date=None, expect=DagRunState.SUCCESS):
    """One ``dag.test()`` run with every window param reset (dag.test leaves run_conf in the cached DAG)."""
    dag = dagbag.get_dag(dag_id)
    quick_retries(dag)
    conf = {"start": None, "end": None, "targets": None, "imeis": None, **(conf or {})}
    dagrun = dag.test(logical_date=logical_date, run_conf=conf)
    assert dagrun.state == expect, f"{dag_id} ended {dagrun.state}"
    return dagrun


def task_tries(dag_id: str, run_id: str) -> dict[str, int]:
    """Airflow task retries of one run: instances that needed more than one try, and the extra tries."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        instances = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id,
                                                       TaskInstance.run_id == run_id).all()
        tries = [ti.try_number for ti in instances]
    return {"instances": len(tries), "retried": sum(1 for t in tries if t > 1),
            "extra_tries": sum(max(t - 1, 0) for t in tries)}


def compare(db: set[tuple], truth: set[tuple], key_len: int) -> dict[str, int]:
    """Rows compared and mismatches (missing, extra, differing by key) between a table and the truth."""
    db_by_key = {r[:key_len]: r for r in db}
    truth_by_key = {r[:key_len]: r for r in truth}
    common = set(db_by_key) & set(truth_by_key)
    return {"truth_rows": len(truth), "db_rows": len(db),
            "missing": len(set(truth_by_key) - set(db_by_key)), "extra": len(set(db_by_key) - set(truth_by_key)),
            "differing": sum(1 for k in common if db_by_key[k] != truth_by_key[k])}


def fault_counts(request_log: list[dict]) -> Counter:
    """Injected faults by kind, from the simulator's request log."""
    return Counter(e["fault"] for e in request_log if e.get("fault") not in (None, "ok"))


def token_calls(request_log: list[dict]) -> int:
    return sum(1 for e in request_log if e["method"] in ("jimi.oauth.token.get", "jimi.oauth.token.refresh"))


def duplicate_keys(conn, table: str, key: tuple[str, ...]) -> int:
    """Keys present more than once (0 whenever the primary key holds; counted, not assumed)."""
    cols = ", ".join(key)
    return rows(conn, f"SELECT count(*) FROM (SELECT {cols} FROM {table} GROUP BY {cols} HAVING count(*) > 1) d")\
        .pop()[0]


__all__ = ["compare", "db_set", "duplicate_keys", "fault_counts", "norm", "run_dag", "task_tries", "token_calls",
           "truth_set"]
