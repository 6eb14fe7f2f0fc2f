"""The db_migrations DAG runs the same runner as the demo and the tests, for real, with dag.test()."""

from __future__ import annotations

import uuid

import psycopg2
import pytest

from fleet_db.admin import drop_database, ensure_database
from fleet_db.migrations import discover
from fleet_db.settings import ADMIN_DSN, DWH_DB, LIVE_DB, dsn_with_dbname
from tests.fixtures.airflow import postgres_conn_json
from tests.fixtures.databases import scalar


@pytest.fixture
def two_empty_databases(monkeypatch):
    names = {kind: f"test_dagmig_{kind}_{uuid.uuid4().hex[:6]}" for kind in (LIVE_DB, DWH_DB)}
    for name in names.values():
        ensure_database(name)
    dsns = {kind: dsn_with_dbname(ADMIN_DSN, name) for kind, name in names.items()}
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_DB", postgres_conn_json(dsns[LIVE_DB]))
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_DWH", postgres_conn_json(dsns[DWH_DB]))
    yield dsns
    for name in names.values():
        drop_database(name)


def ledger_size(dsn: str) -> int | None:
    conn = psycopg2.connect(dsn)
    try:
        if scalar(conn, "SELECT to_regclass('public.schema_migrations')") is None:
            return None
        return scalar(conn, "SELECT count(*) FROM public.schema_migrations")
    finally:
        conn.close()


def test_dry_run_then_real_run(airflow_db, two_empty_databases):
    from airflow.models.dagbag import DagBag

    from tests.conftest import REPO_ROOT

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "db_migrations.py")).get_dag("db_migrations")
    dry = dag.test(run_conf={"dry_run": True})
    assert dry.state == "success"
    assert ledger_size(two_empty_databases[LIVE_DB]) is None  # nothing written
    assert ledger_size(two_empty_databases[DWH_DB]) is None

    real = dag.test(run_conf={"dry_run": False})
    assert real.state == "success"
    assert ledger_size(two_empty_databases[LIVE_DB]) == len(discover(LIVE_DB))
    assert ledger_size(two_empty_databases[DWH_DB]) == len(discover(DWH_DB))

    again = dag.test()
    assert again.state == "success"
    assert ledger_size(two_empty_databases[LIVE_DB]) == len(discover(LIVE_DB))
