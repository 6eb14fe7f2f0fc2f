"""Test harness: the Airflow environment, throw-away databases and shared fixtures.

The Airflow settings below must be in the environment **before anything imports airflow**, so they are set
at module level here (pytest imports conftest.py first). Fixtures live in ``tests/fixtures/`` by topic.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="fleet-airflow-home-"))

os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
# Tests never reach a real Tracksolid: connections are set per test by fixtures (AIRFLOW_CONN_*).
for _name in list(os.environ):
    if _name.startswith("AIRFLOW_CONN_"):
        del os.environ[_name]

# dag.test() skips Deadline Alerts and, in 3.3.2, fails on DAGs that have one: run it without them.
from fleet_alerting import dagtest  # noqa: E402

dagtest.install()

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.airflow",
    "tests.fixtures.simulator",
    "tests.fixtures.s3",
]
pytest_plugins.append("tests.fixtures.webhook")
pytest_plugins.append("tests.fixtures.dwh")
pytest_plugins.append("tests.fixtures.notify")
