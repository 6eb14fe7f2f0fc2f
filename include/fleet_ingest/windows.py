"""The data window of an endpoint run.

Scheduled runs (and ``airflow backfill create``) fetch exactly their data interval ``[start, end)``;
manual runs may override it with the ``start``/``end`` params (ISO-8601, UTC when no offset is given).
A run with neither fails with a message saying what to pass — it never guesses "the last N minutes".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tracksolid_hook.values import parse_time


class WindowError(ValueError):
    """The run has no usable window (no data interval, no or bad ``start``/``end`` params)."""


@dataclass(frozen=True)
class Window:
    """``[start, end)`` the run covers; ``fetch_start`` = ``start`` minus the endpoint's overlap."""

    start: datetime
    end: datetime
    fetch_start: datetime

    def as_xcom(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "fetch_start": self.fetch_start.isoformat()}

    @classmethod
    def from_xcom(cls, value: dict[str, str]) -> Window:
        return cls(*(parse_time(value[k]) for k in ("start", "end", "fetch_start")))

    def __str__(self) -> str:
        overlap = f" (fetching from {self.fetch_start:%Y-%m-%d %H:%M:%S})" if self.fetch_start != self.start else ""
        return f"[{self.start:%Y-%m-%d %H:%M:%S}, {self.end:%Y-%m-%d %H:%M:%S}) UTC{overlap}"


def _param_time(params: dict, name: str) -> datetime | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        moment = parse_time(value)
    except ValueError as exc:
        raise WindowError(f"param {name!r} is not an ISO-8601 time: {value!r}") from exc
    return moment.astimezone(UTC)


def resolve_window(params: dict | None, data_interval_start: datetime | None, data_interval_end: datetime | None,
                   *, overlap: timedelta = timedelta(0)) -> Window:
    """The window of this run: the ``start``/``end`` params when given, else the data interval."""
    params = params or {}
    start, end = _param_time(params, "start"), _param_time(params, "end")
    if (start is None) != (end is None):
        raise WindowError("pass both 'start' and 'end' params (ISO-8601, UTC), or neither")
    if start is None:
        if data_interval_start is None or data_interval_end is None or data_interval_start >= data_interval_end:
            raise WindowError(
                "this run has no data window: it was triggered without a logical date and without the "
                "'start'/'end' params. Trigger it with a logical date (the previous complete interval is "
                "used), or pass start/end, e.g. {\"start\": \"2024-05-01T06:00:00Z\", "
                "\"end\": \"2024-05-01T06:15:00Z\"}."
            )
        start, end = parse_time(data_interval_start), parse_time(data_interval_end)
    if start >= end:
        raise WindowError(f"empty window: start {start.isoformat()} is not before end {end.isoformat()}")
    return Window(start=start, end=end, fetch_start=start - overlap)
