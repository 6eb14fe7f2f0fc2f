"""One ``dag.test()`` run in its own process, started at a barrier — for the two-runs-at-once test.

``python -m tests.reliability.concurrent_run DAG_ID NAME BARRIER_DIR PEERS START END RESULT``: loads the DAG
folder, writes ``BARRIER_DIR/NAME``, waits (bounded) until PEERS files exist, runs the DAG over the manual
window ``[START, END)`` and writes ``{"state": ..., "run_id": ...}`` to the file RESULT. Exit status 0 when the
run succeeded. Airflow settings and connections come from the environment the test passes (each process has
its own metadata database, so the two runs never contend on SQLite).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

BARRIER_TIMEOUT_S = 300


def main(argv: list[str]) -> int:
    dag_id, name, barrier, peers, start, end, result = argv
    from airflow.models.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from fleet_alerting import dagtest

    dagtest.install()  # as tests/conftest.py does: dag.test() of a DAG with a Deadline Alert (fleet_alerting.dagtest)
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dag = bag.get_dag(dag_id)
    for task in dag.tasks:
        task.retry_delay = timedelta(seconds=1)
        task.max_retry_delay = timedelta(seconds=2)
    barrier_dir = Path(barrier)
    (barrier_dir / name).write_text(str(os.getpid()))
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while len(list(barrier_dir.iterdir())) < int(peers):
        if time.monotonic() > deadline:
            sys.stderr.write("barrier timed out\n")
            return 2
        time.sleep(0.05)
    dagrun = dag.test(logical_date=None, run_conf={"start": start, "end": end, "targets": None, "imeis": None})
    Path(result).write_text(json.dumps({"state": str(dagrun.state), "run_id": dagrun.run_id}))
    return 0 if dagrun.state == DagRunState.SUCCESS else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
