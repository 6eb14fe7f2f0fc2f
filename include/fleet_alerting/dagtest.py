"""``dag.test()`` with Deadline Alerts: run it without them.

``dag.test()`` never evaluates Deadline Alerts (they need the scheduler), and in Airflow 3.3.2 it fails at the
end of a *successful* run of a DAG that has one: ``DagRun.update_state`` looks the alerts of the in-memory
serialized DAG up as metadata-DB ids (``DeadlineAlert.get_by_id``), but in ``dag.test()`` they are still
their serialized dicts, not the ids the DAG processor stores. :func:`install` wraps ``DAG.test`` so it runs
with the DAG's ``deadline`` cleared (and restored afterwards) — the test harness (``tests/conftest.py``)
and ``make demo`` call it; the scheduler, which does evaluate deadlines, never goes through ``DAG.test``.
"""

from __future__ import annotations

import functools

_INSTALLED_MARK = "_fleet_without_deadlines"


def install() -> None:
    """Make ``DAG.test`` run without the DAG's Deadline Alerts (idempotent)."""
    from airflow.sdk import DAG

    original = DAG.test
    if getattr(original, _INSTALLED_MARK, False):
        return

    @functools.wraps(original)
    def test_without_deadlines(self, *args, **kwargs):
        saved = self.deadline
        if not saved:
            return original(self, *args, **kwargs)
        self.deadline = None
        try:
            return original(self, *args, **kwargs)
        finally:
            self.deadline = saved

    setattr(test_without_deadlines, _INSTALLED_MARK, True)
    DAG.test = test_without_deadlines
