"""Shared by every benchmark: merge one benchmark's numbers into bench/results.json."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS_FILE = Path(__file__).resolve().parent / "results.json"


def record(name: str, results: dict) -> dict:
    """Store ``results`` under ``name`` in bench/results.json (other benchmarks' entries are kept)."""
    data = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    data[name] = {
        **results,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.python_version()}",
    }
    RESULTS_FILE.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data[name]
