"""Per-table counts and a per-account fleet summary of the live database (``make demo`` prints them)."""

from __future__ import annotations

from fleet_db.settings import read_sql


def table_counts(conn) -> dict[str, int]:
    """Rows per live table the endpoint DAGs fill (plus the ingestion log)."""
    with conn.cursor() as cur:
        cur.execute(read_sql("ingest", "table_counts.sql"))
        return {name: int(count) for name, count in cur.fetchall()}


def fleet_summary(conn) -> list[dict]:
    """One dict per account: devices, live fixes, fixes, trips + km, parking / idling, alarms, OBD."""
    with conn.cursor() as cur:
        cur.execute(read_sql("ingest", "fleet_summary.sql"))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def format_summary(counts: dict[str, int], fleet: list[dict]) -> str:
    lines = ["Rows per table:"]
    width = max(len(name) for name in counts) if counts else 0
    lines += [f"  {name:<{width}}  {count:>10,}" for name, count in counts.items()]
    lines.append("")
    lines.append("Fleet by account:")
    header = ("account", "active/devices", "live fix", "latest fix (UTC)", "fixes", "trips", "km", "parked",
              "idling", "alarms", "obd")
    table = [header]
    for row in fleet:
        latest = row["latest_fix"].strftime("%Y-%m-%d %H:%M") if row["latest_fix"] else "-"
        table.append((str(row["account"]), f"{row['active_devices']}/{row['devices']}", str(row["with_live_fix"]),
                      latest, f"{row['fixes']:,}", f"{row['trips']:,}", f"{row['trip_km']:,}",
                      f"{row['parking_events']:,}", f"{row['idling_events']:,}", f"{row['alarms']:,}",
                      f"{row['obd_readings']:,}"))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        lines.append("  " + "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in
                                      enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)


def print_summary(conn) -> str:
    """Print (and return) the per-table counts and the fleet summary."""
    text = format_summary(table_counts(conn), fleet_summary(conn))
    print(text)
    return text


def main(argv: list[str] | None = None) -> None:
    """``python -m fleet_ingest.summary [--dsn DSN]`` (default: the local tracksolid_db)."""
    import argparse

    import psycopg2

    from fleet_db.settings import ADMIN_DSN, LIVE_DB, dsn_with_dbname

    parser = argparse.ArgumentParser(prog="python -m fleet_ingest.summary", description=__doc__)
    parser.add_argument("--dsn", default=dsn_with_dbname(ADMIN_DSN, LIVE_DB), help="libpq DSN of tracksolid_db")
    args = parser.parse_args(argv)
    conn = psycopg2.connect(args.dsn)
    try:
        print_summary(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
