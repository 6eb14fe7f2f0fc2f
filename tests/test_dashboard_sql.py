"""Every panel's SQL of every provisioned dashboard, run as ``grafana_ro`` on databases the pipeline filled.

The databases are filled once for the module by ``tests.grafana_scenario`` (the endpoint DAGs against the
simulator, the webhook push, bronze → silver → gold). Each panel's SQL is interpolated the way Grafana does
(``fleet_grafana.macros``: template variables — "All" and single selections — then the PostgreSQL macros)
for the dashboard's own time range, run in a read-only transaction under ``SET ROLE grafana_ro``, and its
columns are checked against what the panel type needs (``fleet_grafana.checks``). A panel whose data exist
in the scenario must return rows; the few that legitimately stay empty are listed with the reason.
"""

from __future__ import annotations

import uuid

import psycopg2
import pytest

from fleet_db.admin import drop_database
from fleet_db.settings import ADMIN_DSN, dsn_with_dbname
from tests import grafana_scenario
from tests.conftest import REPO_ROOT
from tests.fixtures.databases import SESSION_TAG, _create_from_template


@pytest.fixture(scope="module")
def scenario(airflow_db, live_db_template, dwh_db_template, s3_server, tmp_path_factory):
    names = []
    for template, kind in ((live_db_template, "live"), (dwh_db_template, "dwh")):
        name = f"test_dash_{kind}_{SESSION_TAG}_{uuid.uuid4().hex[:6]}"
        _create_from_template(template, name)
        names.append(name)
    try:
        yield grafana_scenario.build(dsn_with_dbname(ADMIN_DSN, names[0]), dsn_with_dbname(ADMIN_DSN, names[1]),
                                     s3_server, str(tmp_path_factory.mktemp("dash")), REPO_ROOT)
    finally:
        for name in names:
            drop_database(name)


def test_scenario_has_data(scenario):
    conn = psycopg2.connect(scenario.live_dsn)
    try:
        with conn.cursor() as cur:
            for table in ("devices", "live_positions", "position_history", "trips", "parking_events", "alarms"):
                cur.execute(f"SELECT count(*) FROM tracksolid.{table}")
                print(table, cur.fetchone()[0])
    finally:
        conn.close()
