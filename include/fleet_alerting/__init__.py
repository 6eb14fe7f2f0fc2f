"""Notifications, failure callbacks and Deadline Alerts shared by every DAG.

Every DAG uses the two helpers below (``tests/test_dag_alerting.py`` checks that every DAG in ``dags/`` does):

.. code-block:: python

    from fleet_alerting import dag_alerting, task_alerting

    @dag(dag_id="my_dag", ..., default_args={"owner": ..., "retries": 2, **task_alerting()},
         **dag_alerting("my_dag", deadline=timedelta(minutes=30)))

* :func:`task_alerting` — ``default_args`` additions: the task-level ``on_failure_callback``
  (:func:`fleet_alerting.failures.on_task_failure`: one message per finally failed task instance, naming the
  DAG, task, mapped label, try, error and log link) and an ``execution_timeout`` (every task of ours calls the
  network or a database).
* :func:`dag_alerting` — ``@dag`` keyword arguments: the DAG-level ``on_failure_callback``
  (:func:`fleet_alerting.failures.on_dag_failure`, which stays silent for task failures so nothing is sent
  twice) and the DAG's Deadline Alert (:mod:`fleet_alerting.deadlines`; intervals from ``FLEET_DEADLINES``,
  ``deadline=`` or the defaults there; a manual-only DAG passes nothing and gets none).

Modules: :mod:`fleet_alerting.notify` (``send_notification``, contract C1), :mod:`fleet_alerting.failures`,
:mod:`fleet_alerting.deadlines`; the triggerer's callback is ``plugins/fleet_alerting_callbacks.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

#: Default ``execution_timeout`` of a task (an API batch, a table load, a day's refresh take minutes).
DEFAULT_EXECUTION_TIMEOUT = timedelta(minutes=30)


def task_alerting(execution_timeout: timedelta = DEFAULT_EXECUTION_TIMEOUT) -> dict[str, Any]:
    """``default_args`` additions: the failure callback and an ``execution_timeout``."""
    from fleet_alerting.failures import on_task_failure

    return {"on_failure_callback": on_task_failure, "execution_timeout": execution_timeout}


def dag_alerting(dag_id: str, *, deadline: timedelta | None = None) -> dict[str, Any]:
    """``@dag`` keyword arguments: the DAG-level failure callback and the DAG's Deadline Alert (if any)."""
    from fleet_alerting.deadlines import build_deadline
    from fleet_alerting.failures import on_dag_failure

    kwargs: dict[str, Any] = {"on_failure_callback": on_dag_failure}
    alert = build_deadline(dag_id, deadline)
    if alert is not None:
        kwargs["deadline"] = alert
    return kwargs
