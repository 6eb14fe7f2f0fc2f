"""The Airflow Assets the endpoint DAGs emit — one per live table they fill.

Naming scheme (one, used everywhere): ``name = "tracksolid_db.tracksolid.<table>"`` and an AIP-60 postgres
URI whose host is the *Airflow connection id* (a logical name, not a server address, so the asset identity
does not change between deployments): ``postgres://tracksolid_db:5432/tracksolid_db/tracksolid/<table>``.
Downstream DAGs schedule on ``table_asset("trips")`` (or ``Asset.ref(name="tracksolid_db.tracksolid.trips")``).
Each asset event carries the run's counts and window in its ``extra``.
"""

from __future__ import annotations

from airflow.sdk import Asset

DB_CONN_ID = "tracksolid_db"
TABLES = ("devices", "live_positions", "position_history", "trips", "parking_events", "alarms", "obd_readings")


def table_asset(table: str) -> Asset:
    """The Asset of ``tracksolid.<table>`` in the live database."""
    if table not in TABLES:
        raise ValueError(f"no asset for table {table!r}; known: {', '.join(TABLES)}")
    return Asset(
        name=f"{DB_CONN_ID}.tracksolid.{table}",
        uri=f"postgres://{DB_CONN_ID}:5432/{DB_CONN_ID}/tracksolid/{table}",
        group="tracksolid_live",
    )
