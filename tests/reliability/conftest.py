"""Reliability-suite harness: the ``reliability`` marker and the ``record_figure`` fixture.

Every test collected under tests/reliability/ is marked ``reliability``. A test records the numbers that
docs/RELIABILITY.md shows with::

    def test_x(record_figure):
        record_figure("faults injected (1006)", 14, unit="responses",
                      command="pytest tests/reliability/test_x.py::test_x")

Figures (and each test's outcome) are appended as JSON lines to the file named by ``FLEET_RELIABILITY_FIGURES``
(default ``build/reliability/figures.jsonl``); ``python -m tests.reliability.render`` turns the latest record per
(test, figure) into the document. ``make test-reliability`` starts from an empty file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FIGURES = REPO_ROOT / "build" / "reliability" / "figures.jsonl"
_HERE = Path(__file__).resolve().parent


def figures_path() -> Path:
    return Path(os.environ.get("FLEET_RELIABILITY_FIGURES") or DEFAULT_FIGURES)


def _append(record: dict) -> None:
    path = figures_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str, sort_keys=True) + "\n")


def _module_title(item) -> str:
    """First line of the test module's docstring: the section heading in the document."""
    doc = (getattr(item.module, "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip().rstrip(".") if doc else item.module.__name__


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)


def pytest_runtest_logreport(report):
    """Record each phase of a reliability test; the renderer folds them into one outcome per test."""
    if "reliability" in report.keywords:
        _append({"kind": "outcome", "nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                 "duration_s": round(report.duration, 2)})


@pytest.fixture
def record_figure(request):
    """``record_figure(name, value, *, unit="", command)``: record one figure for docs/RELIABILITY.md.

    ``command`` is the shell command (run from the repository root) that reproduces the figure.
    """
    item = request.node
    section = _module_title(item)

    def record(name: str, value, *, unit: str = "", command: str) -> None:
        if not command or not str(command).strip():
            raise ValueError(f"figure {name!r}: the command that reproduces it is required")
        _append({"kind": "figure", "nodeid": item.nodeid, "section": section, "module": item.module.__name__,
                 "name": name, "value": value, "unit": unit, "command": command})

    return record
