"""The warehouse's Airflow Assets: what the bronze load emits and the gold refresh schedules on and emits.

* ``bronze_asset(table)`` — one per bronze table (``bronze_<table>``, ``fleet-dwh://tracksolid_dwh/bronze/<table>``),
  emitted by ``dwh_bronze``'s ``load_table`` for the table it loaded.
* :data:`SILVER_INPUTS` — the bronze tables silver/gold are built from (``feeds_silver`` in
  :mod:`fleet_dwh.tables`); ``dwh_gold_refresh`` runs when **all** of them were loaded since its last run.
* :data:`GOLD_DAILY_METRICS` — ``tracksolid_dwh.gold.fact_daily_fleet_metrics``, emitted by
  ``dwh_gold_refresh`` when it refreshed days (the event's ``extra`` lists them: ``{"days": [...]}``).
  Downstream DAGs (e.g. the daily report) schedule on it, or on
  ``Asset.ref(name="tracksolid_dwh.gold.fact_daily_fleet_metrics")``.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAll

from fleet_dwh.tables import TABLES, get_table


def bronze_asset(table: str) -> Asset:
    """The Asset of ``bronze.<table>`` (the same identity ``dwh_bronze`` emits)."""
    t = get_table(table)
    return Asset(name=t.asset_name, uri=t.asset_uri)


#: Bronze tables silver and gold read.
SILVER_INPUT_TABLES: tuple[str, ...] = tuple(t.name for t in TABLES if t.feeds_silver)
#: dwh_gold_refresh's schedule: every silver input loaded since the last refresh.
SILVER_INPUTS = AssetAll(*(bronze_asset(name) for name in SILVER_INPUT_TABLES))

GOLD_DAILY_METRICS = Asset(
    name="tracksolid_dwh.gold.fact_daily_fleet_metrics",
    uri="postgres://tracksolid_dwh:5432/tracksolid_dwh/gold/fact_daily_fleet_metrics",
    group="tracksolid_dwh",
)
