"""scripts/airflow_init.py — the pool and connections set-up compose's airflow-init runs (and the real-scheduler
harness): fed the environment docker-compose.yaml gives airflow-init, against a migrated metadata DB."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.test_compose import _environment, filled_env, load

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import airflow_init  # noqa: E402


@pytest.fixture
def init_env() -> dict[str, str]:
    """airflow-init's environment as Compose interpolates it, notifiers switched on."""
    env = filled_env()
    env.update({"TRACKSOLID_API_POOL_SLOTS": "6",
                "FLEET_SMTP_CONN_URI": "smtp://alerts%40example.com:p%40ss-word@mail.example.com:587"
                                       "?from_email=airflow%40example.com&disable_tls=false&timeout=20",
                "FLEET_NOTIFY_EMAIL_TO": "ops@example.com, duty@example.com",
                "FLEET_CHAT_WEBHOOK_URL": "https://chat.example.com/hooks/abc123secret"})
    return _environment(load(env)["services"]["airflow-init"])


def test_compose_airflow_init_runs_the_script_with_pool_and_notifier_settings(init_env):
    service = load(filled_env())["services"]["airflow-init"]
    command = " ".join(service["command"])
    assert "/opt/airflow/project/scripts/airflow_init.py" in command
    assert command.index("/entrypoint airflow version") < command.index("airflow_init.py")  # after the migration
    assert (REPO_ROOT / "scripts" / "airflow_init.py").is_file()
    assert init_env["TRACKSOLID_API_POOL_SLOTS"] == "6"
    assert {"FLEET_SMTP_CONN_URI", "FLEET_NOTIFY_EMAIL_TO", "FLEET_CHAT_WEBHOOK_URL"} <= set(init_env)
    # The deadline settings reach every Airflow service (the DAG processor reads them when parsing).
    for name, svc in load(filled_env())["services"].items():
        if "AIRFLOW__CORE__EXECUTOR" in _environment(svc):
            assert "FLEET_DEADLINES" in _environment(svc), name


def test_connections_from_the_compose_environment(init_env):
    wanted = airflow_init.desired_connections(init_env)
    assert {"tracksolid_db", "tracksolid_dwh", "tracksolid_db_admin", "tracksolid_dwh_admin", "fleet_s3",
            "tracksolid_api", "fleet_smtp", "fleet_chat"} == set(wanted)
    api = wanted["tracksolid_api"]
    source = json.loads(init_env["AIRFLOW_CONN_TRACKSOLID_API"])
    assert (api["conn_type"], api["login"], api["password"]) == ("tracksolid", source["login"], source["password"])
    assert api["extra"]["batch_size"] == 50 and api["extra"]["app_secret"] == source["extra"]["app_secret"]
    assert wanted["tracksolid_db"]["schema"] == "tracksolid_db" and wanted["tracksolid_db"]["port"] == 5432
    # db_backup / db_migrations use the superuser connections (pg_dump of every table, the scratch database)
    assert (wanted["tracksolid_dwh_admin"]["login"], wanted["tracksolid_dwh_admin"]["schema"]) == (
        "postgres", "tracksolid_dwh")
    assert wanted["tracksolid_db_admin"]["password"] not in (None, wanted["tracksolid_db"]["password"])
    assert wanted["fleet_smtp"] == {
        "conn_type": "smtp", "host": "mail.example.com", "port": 587, "login": "alerts@example.com",
        "password": "p@ss-word", "extra": {"from_email": "airflow@example.com", "disable_tls": False, "timeout": "20",
                                           "to": "ops@example.com,duty@example.com"}}
    assert wanted["fleet_chat"] == {"conn_type": "slackwebhook", "password": "https://chat.example.com/hooks/abc123secret",
                                    "extra": {}}


def test_empty_notifier_settings_add_no_connection(init_env):
    for name in ("FLEET_SMTP_CONN_URI", "FLEET_CHAT_WEBHOOK_URL"):
        init_env[name] = ""
    assert not {"fleet_smtp", "fleet_chat"} & set(airflow_init.desired_connections(init_env))


@pytest.mark.parametrize(("name", "value", "message"), [
    ("TRACKSOLID_API_POOL_SLOTS", "0", "at least 1"), ("TRACKSOLID_API_POOL_SLOTS", "four", "whole number"),
    ("FLEET_SMTP_CONN_URI", "mail.example.com:587", "smtp://"), ("FLEET_CHAT_WEBHOOK_URL", "hooks/abc", "full URL"),
    ("AIRFLOW_CONN_BROKEN", "{not json", "AIRFLOW_CONN_BROKEN")])
def test_bad_settings_fail_clearly(init_env, name, value, message):
    init_env[name] = value
    with pytest.raises(airflow_init.InitError, match=message):
        airflow_init.pool_slots(init_env)
        airflow_init.desired_connections(init_env)


@pytest.fixture
def metadata_db(airflow_db, init_env):
    """The session-wide test metadata DB, without the connections the script writes before and after the test:
    left there, they would shadow absent connections in later tests' ``dag.test()`` runs (e.g. ``fleet_smtp``)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    def remove() -> None:
        with create_session() as session:
            session.query(Connection).filter(
                Connection.conn_id.in_(list(airflow_init.desired_connections(init_env)))
            ).delete(synchronize_session=False)

    remove()
    yield
    remove()


def test_apply_creates_then_keeps_then_updates(metadata_db, init_env):
    from airflow.models.connection import Connection
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    first = airflow_init.apply(init_env)
    assert set(first["created"]) == {"tracksolid_db", "tracksolid_dwh", "tracksolid_db_admin", "tracksolid_dwh_admin",
                                     "fleet_s3", "tracksolid_api", "fleet_smtp", "fleet_chat"}
    assert first["pool"] == {"tracksolid_api": 6}
    second = airflow_init.apply(init_env)
    assert second["created"] == [] and second["updated"] == [] and len(second["unchanged"]) == 8
    changed = {**init_env, "TRACKSOLID_API_POOL_SLOTS": "2",
               "FLEET_CHAT_WEBHOOK_URL": "https://chat.example.com/hooks/rotated"}
    third = airflow_init.apply(changed)
    assert third["updated"] == ["fleet_chat"]
    with create_session() as session:
        assert session.query(Pool).filter(Pool.pool == "tracksolid_api").one().slots == 2
        chat = session.query(Connection).filter(Connection.conn_id == "fleet_chat").one()
        assert chat.password == "https://chat.example.com/hooks/rotated"
        smtp = session.query(Connection).filter(Connection.conn_id == "fleet_smtp").one()
        assert smtp.extra_dejson["to"] == "ops@example.com,duty@example.com"


def test_the_script_never_prints_a_secret(metadata_db, init_env):
    # The test's own metadata DB and settings (compose's point at the airflow-postgres service).
    env = {**os.environ, **{k: v for k, v in init_env.items() if not k.startswith("AIRFLOW__")}}
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "airflow_init.py")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "pool tracksolid_api: 6 slots" in output and "fleet_smtp" in output
    secrets = [json.loads(init_env["AIRFLOW_CONN_TRACKSOLID_API"])["password"], "p@ss-word", "abc123secret",
               json.loads(init_env["AIRFLOW_CONN_TRACKSOLID_DB"])["password"]]
    for secret in secrets:
        assert secret not in output
