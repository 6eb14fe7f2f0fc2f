"""The reliability document itself: figures and outcomes fold into docs/RELIABILITY.md as documented."""

from __future__ import annotations

import json

from tests.reliability.render import load, render

CMD = "pytest tests/reliability/test_framework.py"


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _fig(nodeid, name, value, section="S"):
    return {"kind": "figure", "nodeid": nodeid, "section": section, "module": "m", "name": name, "value": value,
            "unit": "rows", "command": f"{CMD}::{nodeid}"}


def _phase(nodeid, when, outcome, duration=1.0):
    return {"kind": "outcome", "nodeid": nodeid, "when": when, "outcome": outcome, "duration_s": duration}


def test_latest_run_wins_and_failures_show(tmp_path, record_figure):
    path = tmp_path / "figures.jsonl"
    records = [
        _phase("a", "setup", "passed"), _fig("a", "mismatches", 3), _phase("a", "call", "failed"),
        _phase("a", "teardown", "passed"),
        # second run of "a": passes with a new value; "b" errors in teardown.
        _phase("a", "setup", "passed"), _fig("a", "mismatches", 0), _phase("a", "call", "passed"),
        _phase("a", "teardown", "passed"),
        _phase("b", "setup", "passed"), _fig("b", "rows | compared", 12, section="T"),
        _phase("b", "call", "passed"), _phase("b", "teardown", "failed"),
    ]
    _write(path, records)
    figures, outcomes = load(path)
    assert figures[("a", "mismatches")]["value"] == 0
    assert outcomes["a"] == {"outcome": "passed", "failed_in": None, "duration_s": 3.0}
    assert outcomes["b"]["outcome"] == "failed" and outcomes["b"]["failed_in"] == "teardown"
    doc = render(figures, outcomes)
    assert "| `b` | failed (in teardown) | 3.0 |" in doc
    assert "| rows \\| compared | 12 | rows |" in doc  # pipes escaped, table intact
    assert doc.index("\n## S\n") < doc.index("\n## T\n")
    assert f"`{CMD}::a`" in doc
    record_figure("renderer self-check records", len(records), unit="records",
                  command="pytest tests/reliability/test_framework.py")


def test_record_figure_requires_command(record_figure):
    import pytest

    with pytest.raises(ValueError, match="command"):
        record_figure("x", 1, command=" ")
