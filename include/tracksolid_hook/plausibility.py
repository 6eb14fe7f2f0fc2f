"""The plausibility window for event times — one rule for the push receiver and the API loaders.

A device without a real-time clock or GPS lock sends times such as ``2000-01-01``, ``1970-01-01`` (epoch 0) or a
far future (``2100``, ``9999``). ``live_positions`` only moves forward, so one future-dated fix would freeze a
vehicle's live position for good. An event time is *plausible* when

    floor <= time <= now + max_future

(``floor`` and ``max_future`` are settings). An implausible item is kept — the push receiver quarantines it in
``tracksolid.push_quarantine`` with reason :data:`REASON`, the API loaders record it in
``tracksolid.implausible_api_rows`` — but it never reaches the data tables, so it never moves live state. Both
show on Pipeline health through ``tracksolid.v_implausible_times_daily``.

Settings: the push receiver reads ``WEBHOOK_TIME_MAX_FUTURE_S`` / ``WEBHOOK_TIME_FLOOR`` (environment, see
``webhook_service.config``); the API loaders read ``plausible_time_max_future_s`` / ``plausible_time_floor_year``
from ``tracksolid.settings`` (:func:`window_from_settings`). Defaults: 600 s and 2010-01-01 UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: The quarantine / record reason of an implausible event time.
REASON = "implausible_time"
DEFAULT_MAX_FUTURE_S = 600.0
DEFAULT_FLOOR = datetime(2010, 1, 1, tzinfo=UTC)
#: Keys in tracksolid.settings (migration 0070).
SETTING_MAX_FUTURE = "plausible_time_max_future_s"
SETTING_FLOOR_YEAR = "plausible_time_floor_year"


@dataclass(frozen=True)
class PlausibilityWindow:
    """``floor <= moment <= now + max_future_s``."""

    max_future_s: float = DEFAULT_MAX_FUTURE_S
    floor: datetime = DEFAULT_FLOOR

    def __post_init__(self):
        if self.max_future_s < 0:
            raise ValueError(f"max_future_s must not be negative, got {self.max_future_s}")
        if self.floor.tzinfo is None:
            raise ValueError("floor must be an aware (UTC) datetime")

    def latest(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(UTC)) + timedelta(seconds=self.max_future_s)

    def problem(self, moment: datetime | None, now: datetime | None = None) -> str | None:
        """Why ``moment`` is implausible (text for a log / quarantine detail), or None when it is plausible
        (or absent: a missing time is another rule's business)."""
        if moment is None:
            return None
        if moment < self.floor:
            return f"{moment.isoformat()} is before the floor {self.floor.isoformat()}"
        latest = self.latest(now)
        if moment > latest:
            return f"{moment.isoformat()} is more than {self.max_future_s:g} s in the future"
        return None

    def plausible(self, moment: datetime | None, now: datetime | None = None) -> bool:
        return self.problem(moment, now) is None

    def split(self, rows: Iterable[dict], column: str, now: datetime | None = None) -> tuple[list[dict], list[dict]]:
        """``rows`` as (plausible, implausible) by their ``column`` time (rows without it count as plausible)."""
        now = now or datetime.now(UTC)
        good: list[dict] = []
        bad: list[dict] = []
        for row in rows:
            (good if self.plausible(row.get(column), now) else bad).append(row)
        return good, bad


def window_from_settings(values: dict) -> PlausibilityWindow:
    """The window from ``tracksolid.settings`` values (``{key: value}``); missing keys take the defaults."""
    max_future = values.get(SETTING_MAX_FUTURE)
    floor_year = values.get(SETTING_FLOOR_YEAR)
    return PlausibilityWindow(
        max_future_s=DEFAULT_MAX_FUTURE_S if max_future is None else float(max_future),
        floor=DEFAULT_FLOOR if floor_year is None else datetime(int(floor_year), 1, 1, tzinfo=UTC),
    )


def read_window(cur) -> PlausibilityWindow:
    """The window as configured in ``tracksolid.settings`` (a DB-API cursor on tracksolid_db)."""
    from fleet_db.settings import read_sql

    cur.execute(read_sql("tracksolid_hook", "plausibility_settings_read.sql"),
                {"max_future_key": SETTING_MAX_FUTURE, "floor_year_key": SETTING_FLOOR_YEAR})
    return window_from_settings(dict(cur.fetchall()))
