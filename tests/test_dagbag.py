"""Every DAG in dags/ imports cleanly and follows the project's conventions."""

from __future__ import annotations

import pytest
from airflow.models.dagbag import DagBag

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(REPO_ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "db_migrations" in dagbag.dags


def test_every_dag_is_documented_tagged_owned_and_retried(dagbag):
    assert dagbag.dags, "no DAG found"
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id}: no tags"
        assert dag.doc_md and len(dag.doc_md.strip()) > 40, f"{dag_id}: no doc_md"
        assert "retries" in dag.default_args, f"{dag_id}: no retries in default_args"
        owners = {t.owner for t in dag.tasks}
        assert owners and "airflow" not in owners, f"{dag_id}: tasks without an owner: {owners}"
