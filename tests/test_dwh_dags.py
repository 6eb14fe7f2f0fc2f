"""The warehouse DAGs run for real with dag.test(): live DB → moto S3 → bronze, then silver + gold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg2
import pytest

from fleet_dwh.tables import TABLES
from tests.conftest import REPO_ROOT
from tests.fixtures.databases import scalar
from tests.fixtures.dwh import assert_bronze_equals_live, fill_live


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def test_schedules_and_conventions():
    bronze = _dag("dwh_bronze")
    gold = _dag("dwh_gold_refresh")
    assert bronze.max_active_runs == 1 and gold.max_active_runs == 1
    assert bronze.timetable.expression == "0 5,8,11,14,17,20,23 * * *"
    assert str(bronze.timetable.timezone) == "Africa/Nairobi"
    # Gold runs on data: once every bronze table silver reads was loaded (Assets bronze emits), and emits gold's.
    from fleet_dwh.assets import GOLD_DAILY_METRICS
    from fleet_dwh.tables import BY_NAME

    condition = gold.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"
    assert {a.name for a in condition.objects} == {BY_NAME[n].asset_name for n in ("devices", "position_history",
                                                                                   "alarms")}
    assert gold.get_task("summarise").outlets == [GOLD_DAILY_METRICS]
    for dag in (bronze, gold):
        assert dag.doc_md and dag.tags and dag.default_args["retries"] >= 1
        assert {t.owner for t in dag.tasks} == {"data-engineering"}


def test_bronze_dag_loads_every_table_and_emits_assets(airflow_db, airflow_db_conns, fleet_s3, live_conn, dwh_conn):
    fill_live(live_conn)
    dag = _dag("dwh_bronze")
    run = dag.test(run_conf={"tables": [], "safety_lag_s": 0})
    assert run.state == "success"
    assert_bronze_equals_live(live_conn, dwh_conn)
    assert fleet_s3.keys("dwh/exports/") == []
    assert len(fleet_s3.keys("dwh/processed/")) == len(TABLES)
    assert scalar(dwh_conn, "SELECT count(DISTINCT run_id) FROM dwh_control.extract_runs") == 1
    assert scalar(dwh_conn, "SELECT count(*) FROM dwh_control.extract_runs WHERE status = 'loaded'") == len(TABLES)

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        emitted = {name for (name,) in session.query(AssetModel.name).join(
            AssetEvent, AssetEvent.asset_id == AssetModel.id).filter(AssetEvent.source_run_id == run.run_id)}
    assert emitted == {t.asset_name for t in TABLES}

    # A second, manual run for one table adds nothing.
    again = dag.test(run_conf={"tables": ["position_history"]})
    assert again.state == "success"
    assert scalar(dwh_conn, "SELECT rows_loaded FROM dwh_control.extract_runs WHERE run_id = %s", (again.run_id,)) == 0
    assert_bronze_equals_live(live_conn, dwh_conn)


def test_gold_dag_refreshes_a_day_and_its_stale_neighbours(airflow_db, airflow_db_conns, dwh_db):
    from tests.fixtures.dwh import load_devices_into_bronze, load_fixes_into_bronze
    from tracksolid_simulator import Fleet, SimulatorConfig

    fleet = Fleet(SimulatorConfig(devices=6, accounts=1, seed=5))
    day = date(2026, 3, 3)
    start = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
    conn = psycopg2.connect(dwh_db)
    conn.autocommit = True
    try:
        load_devices_into_bronze(conn, fleet.truth.devices())
        load_fixes_into_bronze(conn, fleet.truth.fixes(start - timedelta(days=1), start + timedelta(days=1)))
        dag = _dag("dwh_gold_refresh")
        run = dag.test(logical_date=datetime(2026, 3, 4, 2, 30, tzinfo=UTC))  # 05:30 EAT on the 4th
        assert run.state == "success"
        built = {r[0] for r in _fetch(conn, "SELECT local_day FROM silver.day_builds")}
        # The target (the 3rd) and the stale day before it (fixes loaded, never built).
        assert built == {day, day - timedelta(days=1)}
        assert scalar(conn, "SELECT count(*) FROM gold.fact_daily_fleet_metrics WHERE local_day = %s", (day,)) == 6
        assert scalar(conn, "SELECT bool_and(s = 86400) FROM (SELECT sum(duration_s) s FROM silver.segments"
                            " GROUP BY imei, local_day) x")
        assert scalar(conn, "SELECT count(*) FROM gold.fact_driver_daily_behaviour WHERE local_day = %s",
                      (day,)) >= 1

        manual = dag.test(run_conf={"day": "2026-03-03", "include_stale": False})
        assert manual.state == "success"
        with pytest.raises(Exception):  # noqa: B017 - Airflow wraps the param validation error
            dag.test(run_conf={"day": "not-a-day"}).state  # noqa: B018
    finally:
        conn.close()


def _fetch(conn, query, params=None):
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()
