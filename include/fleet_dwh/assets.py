"""The warehouse's Airflow Assets.

:data:`GOLD_DAILY_METRICS` — ``tracksolid_dwh.gold.fact_daily_fleet_metrics``, emitted by ``dwh_gold_refresh``
when it refreshed days (the event's ``extra`` lists them: ``{"days": [...]}``); the daily report schedules on it.
"""

from __future__ import annotations

from airflow.sdk import Asset

GOLD_DAILY_METRICS = Asset(
    name="tracksolid_dwh.gold.fact_daily_fleet_metrics",
    uri="postgres://tracksolid_dwh:5432/tracksolid_dwh/gold/fact_daily_fleet_metrics",
    group="tracksolid_dwh",
)
