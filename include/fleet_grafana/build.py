"""Write (or check) the provisioned dashboards: ``python -m fleet_grafana.build [--check] [--out DIR]``.

The JSON files under grafana/dashboards/ are generated from the modules of this package; ``--check`` exits 1
naming every file that differs from what the code builds (the tests run it, so the two never drift).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fleet_grafana import daily_ops, noc, pipeline, trends, vehicle_day

DASHBOARDS = {
    "noc_live.json": noc.build,
    "daily_operations.json": daily_ops.build,
    "vehicle_day.json": vehicle_day.build,
    "fleet_trends.json": trends.build,
    "pipeline_health.json": pipeline.build,
}
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"


def render(builder) -> str:
    return json.dumps(builder(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    stale = []
    for name, builder in DASHBOARDS.items():
        path, text = args.out / name, render(builder)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date (run python -m fleet_grafana.build): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
