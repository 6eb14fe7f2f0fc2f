"""``python -m fleet_report --dsn DSN --day 2026-03-02 --out DIR``: render one day's report to a folder.

For operators and for the sample image in docs/; the DAG ``fleet_daily_report`` is the scheduled path.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

import psycopg2

from fleet_report.data import load_report_data
from fleet_report.render import render_report, write_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet_report", description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="libpq DSN of the warehouse database (tracksolid_dwh)")
    parser.add_argument("--day", required=True, type=date.fromisoformat, help="local day (Africa/Nairobi)")
    parser.add_argument("--out", required=True, type=Path, help="folder the files are written to")
    parser.add_argument("--no-pdf", action="store_true", help="skip the PDF")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    conn = psycopg2.connect(args.dsn)
    try:
        data = load_report_data(conn, args.day)
    finally:
        conn.close()
    for path in write_files(render_report(data, pdf=not args.no_pdf), args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
