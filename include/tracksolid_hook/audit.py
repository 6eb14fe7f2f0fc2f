"""The ``tracksolid.ingestion_log`` writer: one row per API call attempt.

Rows are written on their own autocommit connection, so they survive the failure of the task that
wrote them. The Airflow context (dag, run, task, map index) is read from ``get_current_context()`` when
running inside a task, else left null. The caller scrubs ``error`` of secrets before it gets here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fleet_db.settings import read_sql

log = logging.getLogger(__name__)


def airflow_context_ids() -> dict[str, Any]:
    """dag_id / run_id / task_id / map_index of the running task, or nulls outside a task."""
    ids: dict[str, Any] = {"dag_id": None, "run_id": None, "task_id": None, "map_index": None}
    try:
        from airflow.sdk import get_current_context

        context = get_current_context()
    except Exception:  # outside a task: no context
        return ids
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    ids["dag_id"] = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None)
    ids["run_id"] = getattr(ti, "run_id", None) or context.get("run_id") or getattr(dag_run, "run_id", None)
    ids["task_id"] = getattr(ti, "task_id", None)
    map_index = getattr(ti, "map_index", None)
    ids["map_index"] = map_index if isinstance(map_index, int) else None
    return ids


class AuditLog:
    def __init__(self, connect: Callable[[], object]) -> None:
        self._connect = connect
        self._conn = None

    def _connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            self._conn.autocommit = True
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def write(self, **fields: Any) -> None:
        """Insert one row. A failing audit write is logged, never raised: losing the API data of a
        successful call because the audit insert failed would be worse than a missing audit row."""
        row = {
            **airflow_context_ids(),
            "method": None, "target": None, "imei_count": None, "attempt": 1, "http_status": None,
            "api_code": None, "row_count": None, "duration_ms": None, "error": None,
            **fields,
        }
        if row["api_code"] is not None:
            row["api_code"] = str(row["api_code"])
        try:
            with self._connection().cursor() as cur:
                cur.execute(read_sql("tracksolid_hook", "ingestion_log_insert.sql"), row)
        except Exception as exc:
            log.warning("could not write the ingestion_log row for %s: %s", row["method"], type(exc).__name__)
            self.close()
