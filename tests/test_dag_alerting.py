"""Every DAG in dags/ is wired to fleet_alerting (so DAGs added later are caught), and the callbacks say
what the issue asks, delivered to a real local SMTP server and HTTP receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.dag_processing.dagbag import DagBag

from fleet_alerting import deadlines, failures
from tests.conftest import REPO_ROOT


def _callbacks(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def test_every_dag_and_task_has_the_failure_callbacks_and_timeouts(dagbag):
    assert len(dagbag.dags) >= 10
    for dag_id, dag in dagbag.dags.items():
        assert failures.on_dag_failure in _callbacks(dag.on_failure_callback), f"{dag_id}: no DAG failure callback"
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert failures.on_task_failure in _callbacks(task.on_failure_callback), f"{where}: no failure callback"
            # Every task of ours calls the network or a database: each has a bounded run time.
            assert task.execution_timeout is not None, f"{where}: no execution_timeout"
            assert timedelta(0) < task.execution_timeout <= timedelta(hours=2), where
            # No retry notification: one message per failure (the final one).
            assert not _callbacks(task.on_retry_callback), f"{where}: a retry callback would notify twice"


def test_every_scheduled_dag_has_a_deadline_alert(dagbag):
    scheduled = {dag_id for dag_id, dag in dagbag.dags.items() if dag.timetable.can_be_scheduled
                 or type(dag.timetable).__name__ == "AssetTriggeredTimetable"}
    assert {"dwh_bronze", "dwh_gold_refresh", "tracksolid_live_positions", "tracksolid_track_list"} <= scheduled
    assert "db_migrations" not in scheduled
    for dag_id in scheduled:
        alerts = dagbag.dags[dag_id].deadline or []
        assert len(alerts) == 1, f"{dag_id}: {len(alerts)} deadline alerts"
        (alert,) = alerts
        assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"
        assert alert.callback.path == deadlines.CALLBACK_PATH
        if dag_id in deadlines.DEFAULT_DEADLINES:
            assert alert.interval == deadlines.DEFAULT_DEADLINES[dag_id], dag_id
        else:  # a DAG added later passes dag_alerting(dag_id, deadline=...)
            assert alert.interval > timedelta(0), dag_id
        assert alert.callback.kwargs == {"deadline_name": alert.name, "interval_s": alert.interval.total_seconds()}
    live = dagbag.dags["tracksolid_live_positions"].deadline[0]
    assert live.interval == timedelta(minutes=5) and live.name == (
        "tracksolid_live_positions finished within 5m of being queued")
    assert dagbag.dags["tracksolid_track_list"].deadline[0].interval == timedelta(minutes=25)
    assert dagbag.dags["dwh_bronze"].deadline[0].interval == timedelta(hours=1)
    assert not dagbag.dags["db_migrations"].deadline


def test_the_deadline_callback_is_importable_from_plugins_and_awaitable(notify_receivers):
    import asyncio
    import inspect
    import sys

    sys.path.insert(0, str(REPO_ROOT / "plugins"))
    try:
        from fleet_alerting_callbacks import deadline_missed
    finally:
        sys.path.remove(str(REPO_ROOT / "plugins"))
    assert inspect.iscoroutinefunction(deadline_missed)
    assert deadlines.CALLBACK_PATH == f"{deadline_missed.__module__}.{deadline_missed.__name__}"
    # The triggerer stores the result in a text column: it must be text.
    context = {"dag_run": {"dag_id": "dwh_bronze", "dag_run_id": "r1", "state": "running"},
               "deadline": {"id": "d", "deadline_time": "2026-12-06T04:00:00+00:00"}}
    output = asyncio.run(deadline_missed(context=context, deadline_name="bronze 1h", interval_s=3600))
    assert isinstance(output, str) and output.endswith("sent via smtp, chat")
    notify_receivers.wait_for(mails=1, posts=1)
    assert len(notify_receivers.mails) == 1 and len(notify_receivers.posts) == 1


def test_fleet_deadlines_env_overrides_without_code_changes(monkeypatch):
    monkeypatch.setenv("FLEET_DEADLINES", '{"dwh_bronze": "1h30m", "tracksolid_trips": 600, '
                                          '"tracksolid_obd": 0, "db_migrations": "20m", "tracksolid_alarms": "soon"}')
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    assert bag.dags["dwh_bronze"].deadline[0].interval == timedelta(hours=1, minutes=30)
    assert bag.dags["tracksolid_trips"].deadline[0].interval == timedelta(minutes=10)
    assert not bag.dags["tracksolid_obd"].deadline  # 0 removes it
    assert bag.dags["db_migrations"].deadline[0].interval == timedelta(minutes=20)  # a manual DAG may get one
    # An invalid entry keeps the default (logged), never an import error.
    assert bag.dags["tracksolid_alarms"].deadline[0].interval == deadlines.DEFAULT_DEADLINES["tracksolid_alarms"]
    monkeypatch.setenv("FLEET_DEADLINES", "{not json")
    assert deadlines.deadline_interval("dwh_bronze") == timedelta(hours=1)


@pytest.mark.parametrize(("text", "expected"), [
    (300, timedelta(minutes=5)), ("90s", timedelta(seconds=90)), ("1h30m", timedelta(minutes=90)),
    ("2.5m", timedelta(seconds=150)), ("45", timedelta(seconds=45)), (None, None), (0, None)])
def test_parse_interval(text, expected):
    assert deadlines.parse_interval(text) == expected


@pytest.mark.parametrize("bad", ["5 minutes", "-5", -1, True, [5], "m"])
def test_parse_interval_rejects(bad):
    with pytest.raises(deadlines.DeadlineConfigError):
        deadlines.parse_interval(bad)


def _ti(**overrides):
    ti = dict(dag_id="tracksolid_trips", run_id="scheduled__2026-12-06T04:00:00+00:00", task_id="fetch_trips",
              map_index=2, rendered_map_index="fleet_head #3 (50 IMEIs 86..01..86..50)", try_number=4)
    ti.update(overrides)
    return SimpleNamespace(**ti)


def test_task_failure_message_names_everything_and_arrives_once(notify_receivers):
    error = RuntimeError("code 1006: too many requests\nTraceback line that stays in the log")
    details = failures.on_task_failure({"ti": _ti(), "exception": error})
    assert details["sent"] == ["smtp", "chat"]
    notify_receivers.wait_for(mails=1, posts=1)
    (mail,), (post,) = notify_receivers.mails, notify_receivers.posts
    assert mail["subject"] == "[fleet CRITICAL] FAILED tracksolid_trips.fetch_trips [fleet_head #3 (50 IMEIs " \
                              "86..01..86..50)] (try 4)"
    text = post["body"]["text"]
    for expected in ("DAG:       tracksolid_trips", "Task:      fetch_trips",
                     "Mapped:    fleet_head #3 (50 IMEIs 86..01..86..50)", "Try:       4",
                     "Error:     RuntimeError: code 1006: too many requests",
                     "Log:       http://localhost:8080/dags/tracksolid_trips/runs/"
                     "scheduled__2026-12-06T04%3A00%3A00%2B00%3A00/tasks/fetch_trips/mapped/2?try_number=4"):
        assert expected in text, expected
        assert expected.replace("&", "&amp;") in mail["text"], expected
    assert "Traceback line" not in text  # the first line only


def test_dag_failure_callback_is_silent_for_task_failures(notify_receivers):
    run = SimpleNamespace(dag_id="dwh_bronze", run_id="manual__1")
    assert failures.on_dag_failure({"dag_run": run, "reason": "task_failure"})["sent"] == []
    sent = failures.on_dag_failure({"dag_run": run, "reason": "timed_out"})["sent"]
    assert sent == ["smtp", "chat"]
    notify_receivers.wait_for(mails=1, posts=1)
    assert len(notify_receivers.mails) == 1 and len(notify_receivers.posts) == 1
    assert "Reason:    timed_out" in notify_receivers.posts[0]["body"]["text"]


def test_deadline_miss_message_says_which_deadline_and_by_how_much(notify_receivers):
    due = datetime(2026, 12, 6, 4, 5, tzinfo=UTC)
    context = {"dag_run": {"dag_id": "tracksolid_live_positions", "dag_run_id": "scheduled__x",
                           "queued_at": "2026-12-06T04:00:00Z", "state": "running"},
               "deadline": {"id": "d1", "deadline_time": due.isoformat()}}
    subject, body = deadlines.format_deadline_miss(
        context, "tracksolid_live_positions finished within 5m of being queued", 300,
        now=due + timedelta(minutes=2, seconds=7))
    assert subject == ("DEADLINE MISSED tracksolid_live_positions: 2m7s late "
                       "(tracksolid_live_positions finished within 5m of being queued)")
    assert "Due at:    2026-12-06T04:05:00+00:00" in body and "Queued at: 2026-12-06T04:00:00+00:00" in body
    assert "Late by:   2m7s (run state running when the miss was detected)" in body
    result = deadlines.notify_deadline_missed(context, "live positions deadline", 300)
    assert result["sent"] == ["smtp", "chat"]
    notify_receivers.wait_for(mails=1, posts=1)
    assert notify_receivers.mails[0]["subject"].startswith("[fleet WARNING] DEADLINE MISSED tracksolid_live_positions")


def test_failure_callbacks_never_raise_and_send_nothing_without_connections(monkeypatch):
    for name in ("AIRFLOW_CONN_FLEET_SMTP", "AIRFLOW_CONN_FLEET_CHAT"):
        monkeypatch.delenv(name, raising=False)
    assert failures.on_task_failure({})["sent"] == []
    assert failures.on_dag_failure({})["sent"] == []
    assert deadlines.notify_deadline_missed(None)["sent"] == []
