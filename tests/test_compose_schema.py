"""docker-compose.yaml against the Compose Specification's JSON schema (tests/data/compose_spec/README.md).

No Docker client is needed (the v1 ``docker-compose`` is end-of-life and rejects the top-level ``name``): the
file is interpolated as Compose does (``tests.test_compose``) and validated with ``jsonschema``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from tests.test_compose import filled_env, load

SCHEMA_FILE = Path(__file__).parent / "data" / "compose_spec" / "compose-spec.schema.json"
PROJECT_NAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"}


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["title"] == "Compose Specification" and "name" not in schema["properties"]
    schema["properties"]["name"] = PROJECT_NAME  # the one addition (see the README beside the schema)
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def _errors(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_compose_file_is_valid_for_the_compose_specification(validator):
    doc = load(filled_env())
    assert _errors(validator, doc) == []
    assert doc["name"] == "tracksolid-fleet"


def test_the_schema_rejects_what_compose_rejects(validator):
    good = load(filled_env())
    cases = {
        "unknown top-level key": lambda d: d.update(servics={}),
        "unknown service key": lambda d: d["services"]["webhook"].update(imagee="x"),
        "bad depends_on condition": lambda d: d["services"]["webhook"]["depends_on"]["fleet-init"].update(
            condition="service_finished"),
        "restart policy not a string": lambda d: d["services"]["redis"].update(restart=["always"]),
        "bad project name": lambda d: d.update(name="Tracksolid Fleet"),
        "healthcheck typo": lambda d: d["services"]["redis"]["healthcheck"].update(intervall="10s"),
    }
    for label, mutate in cases.items():
        doc = copy.deepcopy(good)
        mutate(doc)
        assert _errors(validator, doc), f"the schema accepted: {label}"
