"""Bad settings fail fast naming the setting: real ``dag.test()`` runs against the simulator.

A missing ``tracksolid_api`` connection, a wrong app secret, a wrong account password, an endpoint host that
does not resolve, and a database login the server refuses each fail the devices DAG on the first try of the
first task that needs them — no task retry (the DAGs keep ``retries=3``) — with a message naming the
connection field or extra to fix. The local server trusts every login, so a *wrong password* cannot be refused
here; a role that does not exist stands for it (the same libpq failure class, "FATAL: … authentication").
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from airflow.utils.state import DagRunState
from psycopg2.extensions import parse_dsn

from fleet_db.settings import postgres_conn_json
from tests.fixtures.simulator import tracksolid_conn_json
from tests.reliability.endpoint_runs import run_dag, task_tries

SIM_NOW = datetime(2024, 5, 7, 12, 0, tzinfo=UTC)
COMMAND = "pytest tests/reliability/test_api_bad_settings.py"
WINDOW = {"start": (SIM_NOW - timedelta(days=1)).isoformat(), "end": SIM_NOW.isoformat()}


@pytest.fixture
def settings_env(airflow_db, airflow_db_conns, simulator_factory, monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKSOLID_RATE_LIMIT_DIR", str(tmp_path / "rate"))
    server = simulator_factory(clock_start=SIM_NOW, clock_speed=0, devices=6, accounts=2, seed=5)
    good = json.loads(tracksolid_conn_json(server, max_requests_per_s=200.0, timeout_s=2.0))
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", json.dumps(good))
    return server, good, airflow_db_conns["tracksolid_db"]


def _break(monkeypatch, good: dict, live_dsn: str, case: str) -> str:
    """Apply one bad setting; returns the text the failure must contain (the setting to fix)."""
    conn = json.loads(json.dumps(good))
    if case == "missing connection":
        monkeypatch.delenv("AIRFLOW_CONN_TRACKSOLID_API")
        return "AIRFLOW_CONN_TRACKSOLID_API"
    if case == "wrong app secret":
        conn["extra"]["app_secret"] = "5f2b" * 8  # 32 hex characters, as Jimi issues them
        expect = "'app_secret'"
    elif case == "wrong password":
        conn["password"] = "Wr0ng-Passw0rd-2024!"
        expect = "login and password"
    elif case == "host does not resolve":
        conn["host"] = "http://eu-open.tracksolidpro.invalid/route/rest"
        expect = "host of connection 'tracksolid_api'"
    elif case == "database login refused":
        params = parse_dsn(live_dsn)
        bad = f"host={params.get('host', '127.0.0.1')} port={params.get('port', 5432)} " \
              f"dbname={params['dbname']} user=no_such_role_{int(time.time())} password=Wr0ng-Passw0rd"
        monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_DB", postgres_conn_json(bad))
        return "connection 'tracksolid_db'"
    else:
        raise AssertionError(case)
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", json.dumps(conn))
    return expect


CASES = ["missing connection", "wrong app secret", "wrong password", "host does not resolve",
         "database login refused"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_setting_fails_the_dag_at_once_naming_it(dagbag, settings_env, monkeypatch, caplog, record_figure,
                                                      case):
    server, good, live_dsn = settings_env
    expect = _break(monkeypatch, good, live_dsn, case)
    started = time.monotonic()
    dagrun = run_dag(dagbag, "tracksolid_devices", conf=WINDOW, expect=DagRunState.FAILED)
    elapsed = time.monotonic() - started
    tries = task_tries("tracksolid_devices", dagrun.run_id)
    assert tries["retried"] == 0, f"{case}: a task was retried ({tries})"
    assert "not retried" in caplog.text and expect in caplog.text, f"{case}: the failure does not name {expect}"
    api_attempts = sum(1 for e in server.request_log if e["method"] == "jimi.oauth.token.get")
    # each task that reached the platform asked once: no call was retried by the hook either
    assert server.request_log == [] or {e["method"] for e in server.request_log} == {"jimi.oauth.token.get"}
    conn = psycopg2.connect(live_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), coalesce(max(attempt), 0) FROM tracksolid.ingestion_log")
            logged, max_attempt = cur.fetchone()
    finally:
        conn.close()
    if case in ("wrong app secret", "wrong password"):  # refused by the platform: one audited attempt each
        assert api_attempts >= 1 and logged == api_attempts and max_attempt == 1
    elif case == "host does not resolve":  # never reached the platform; each task's one attempt is audited
        assert api_attempts == 0 and logged >= 1 and max_attempt == 1
    elif case == "missing connection":
        assert api_attempts == 0 and logged == 0
    command = f"{COMMAND} -k '{' and '.join(case.split())}'"
    record_figure(f"{case}: task retries before failing", tries["retried"], unit="retries", command=command)
    record_figure(f"{case}: token requests sent", api_attempts, unit="requests", command=command)
    record_figure(f"{case}: time from start to failed run", round(elapsed, 1), unit="s", command=command)


def test_the_same_dag_with_good_settings_succeeds(dagbag, settings_env, record_figure):
    server, _, _ = settings_env
    dagrun = run_dag(dagbag, "tracksolid_devices", conf=WINDOW)
    assert task_tries("tracksolid_devices", dagrun.run_id)["retried"] == 0
    record_figure("good settings: devices DAG run", 1, unit="run succeeded", command=f"{COMMAND} -k good")


def test_targets_that_own_no_device_fail_saying_what_to_set(dagbag, airflow_db, airflow_db_conns, simulator_factory,
                                                            monkeypatch, tmp_path, caplog, record_figure):
    # 2 devices over 3 accounts: the second sub-account owns none (like a head account that only has children)
    server = simulator_factory(clock_start=SIM_NOW, clock_speed=0, devices=2, accounts=3, seed=5)
    empty = server.cfg.account_names()[2]
    assert not server.fleet.imeis_of(empty)
    monkeypatch.setenv("TRACKSOLID_RATE_LIMIT_DIR", str(tmp_path / "rate"))
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", tracksolid_conn_json(server, targets=[empty]))
    dagrun = run_dag(dagbag, "tracksolid_devices", conf=WINDOW, expect=DagRunState.FAILED)
    assert task_tries("tracksolid_devices", dagrun.run_id)["retried"] == 0
    assert "returned 0 devices for every target" in caplog.text and "'targets'" in caplog.text
    record_figure("targets owning no device: devices DAG", "fails naming 'targets'", unit="",
                  command=f"{COMMAND} -k no_device")
