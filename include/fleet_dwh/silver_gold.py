"""Silver + gold refresh per local day (Africa/Nairobi), and which days need it.

One day is rebuilt in one transaction, so it is always either fully old or fully new:
the bronze fixes around the day are read with one binary COPY straight into numpy arrays, the silver rules
run per device in :mod:`fleet_dwh.segments`, the results are written back with COPY, and geofence visits and
the gold facts (``gold.refresh_daily_metrics``, migration 0007) are computed in SQL from them.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from fleet_db.settings import read_sql

log = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Africa/Nairobi")  # Kampala is UTC+3 too: one local day for the whole fleet


def local_day_of(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def parse_day(value: str | date) -> date:
    """``YYYY-MM-DD`` → date, with a clear error for anything else."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"not a day (YYYY-MM-DD): {value!r}") from None


def day_range(first: date, last: date) -> list[date]:
    if last < first:
        raise ValueError(f"empty day range: {first} .. {last}")
    if (last - first).days > 366:
        raise ValueError(f"day range longer than a year: {first} .. {last}; use a backfill instead")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def stale_days(dwh_conn, newest: date, max_age_days: int = 30, lookback_days: int = 7) -> list[date]:
    """Days up to ``newest`` (at most ``max_age_days`` old) that got bronze fixes/alarms after their last build,
    considering rows loaded in the last ``lookback_days``."""
    dwh_conn.autocommit = True
    with dwh_conn.cursor() as cur:
        cur.execute("SELECT now() - make_interval(days => %s)", (lookback_days,))
        since = cur.fetchone()[0]
        cur.execute(read_sql("dwh", "stale_days.sql"), {
            "since": since, "oldest": newest - timedelta(days=max_age_days), "newest": newest})
        return [r[0] for r in cur.fetchall()]


def plan_days(dwh_conn, target_days: list[date], include_stale: bool = True, max_age_days: int = 30,
              lookback_days: int = 7) -> list[str]:
    """The days one refresh run rebuilds: its target days plus every stale day (ISO strings, sorted)."""
    days = set(target_days)
    if include_stale and target_days:
        days |= set(stale_days(dwh_conn, max(target_days), max_age_days, lookback_days))
    return [d.isoformat() for d in sorted(days)]


def refresh_day(dwh_conn, day: str | date) -> dict:
    """Rebuild silver and refresh gold for one local day, in one transaction (idempotent)."""
    from fleet_dwh.silver_build import rebuild_silver_day  # numpy: only where days are refreshed

    day = parse_day(day)
    dwh_conn.autocommit = False
    try:
        with dwh_conn.cursor() as cur:
            silver = rebuild_silver_day(cur, day)
            cur.execute(read_sql("dwh", "gold_refresh_day.sql"), {"day": day})
            gold_rows = cur.fetchone()[0]
        dwh_conn.commit()
    except Exception:
        dwh_conn.rollback()
        raise
    finally:
        dwh_conn.autocommit = True
    log.info("refreshed %s: silver %s, %s gold rows", day, silver, gold_rows)
    return {"day": day.isoformat(), "silver": silver, "gold_rows": gold_rows}


def gold_summary(dwh_conn, first: date, last: date) -> list[dict]:
    """Fleet totals per day from gold (for the demo and the DAG log)."""
    with dwh_conn.cursor() as cur:
        cur.execute(read_sql("dwh", "gold_summary.sql"), {"first": first, "last": last})
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
