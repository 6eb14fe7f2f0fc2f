"""Settings of the push receiver, read from the environment (never from code or files in the repo).

| variable | meaning | default |
|---|---|---|
| ``WEBHOOK_DATABASE_URL`` | libpq DSN or ``postgresql://`` URI of ``tracksolid_db`` | required |
| ``WEBHOOK_IOTHUB_TOKEN`` | IoT-Hub ``token`` value; comma-separated to accept several during a rotation | required |
| ``WEBHOOK_PRO_PATH_SECRET`` | secret segment of the Tracksolid Pro push URL ``/pro/<secret>`` | unset (off) |
| ``WEBHOOK_MAX_BODY_BYTES`` | largest accepted request body | 1048576 |
| ``WEBHOOK_MAX_ITEMS`` | most items in one ``data_list`` | 1000 |
| ``WEBHOOK_DB_POOL_MIN`` / ``WEBHOOK_DB_POOL_MAX`` | connection pool size per worker process | = max / threads (4) |
| ``WEBHOOK_DB_TIMEOUT_S`` | wait for a pooled connection before answering 503 | 3 |
| ``WEBHOOK_DB_CONNECT_TIMEOUT_S`` | opening a database connection (libpq ``connect_timeout``) | 3 |
| ``WEBHOOK_DB_REQUEST_TIMEOUT_S`` | database work of one request (statements, locks, stalled server) before 503 | 5 |
| ``WEBHOOK_TIME_MAX_FUTURE_S`` | event times later than now + this are implausible (quarantined) | 600 |
| ``WEBHOOK_TIME_FLOOR`` | event times before this date (UTC) are implausible (quarantined) | 2010-01-01 |
| ``WEBHOOK_EVENT_TIME_FIELDS`` | JSON ``{"pushgps": ["gpsTime"]}``: event time fields, first present wins | below |
| ``WEBHOOK_TRIP_DISTANCE_UNIT`` | unit of ``distance`` in ``/pushtripreport`` items: ``m`` or ``km`` | m |
| ``WEBHOOK_LOG_LEVEL`` | log level | INFO |

Each secret may instead be given as a file path in ``<NAME>_FILE`` (Docker / Kubernetes secrets).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tracksolid_hook.plausibility import DEFAULT_FLOOR, DEFAULT_MAX_FUTURE_S, PlausibilityWindow

#: Which item field carries the event time, per IoT-Hub path (TRACKSOLID_API.md §7: gpsTime for fixes,
#: gateTime otherwise). Where the vendor never published the field list, several candidates are tried in
#: order. ``msg.`` reads inside the nested ``msg`` object of /pushalarm.
DEFAULT_EVENT_TIME_FIELDS: dict[str, tuple[str, ...]] = {
    "pushgps": ("gpsTime",),
    "pushhb": ("gateTime",),
    "pushalarm": ("msg.alarmTime", "alarmTime", "gateTime"),
    "pushevent": ("gateTime",),
    "pushobd": ("gateTime", "dataReportTime", "eventTime", "gpsTime", "time"),
    "pushfaultinfo": ("gateTime", "eventTime", "faultTime", "gpsTime", "time"),
    "pushtripreport": ("startTime", "beginTime", "gateTime"),
    "pushoil": ("gateTime", "gpsTime", "time"),
    "pushtem": ("gateTime", "gpsTime", "time"),
    "pushlbs": ("gateTime",),
}


class ConfigError(ValueError):
    """A required setting is missing or a value is malformed."""


def _secret(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    path = environ.get(f"{name}_FILE")
    if not value and path:
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE points at an unreadable file: {exc.strerror}") from exc
    return value or None


def _number(environ: Mapping[str, str], name: str, default, kind=int):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _date(environ: Mapping[str, str], name: str, default: datetime) -> datetime:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{name} must be an ISO-8601 date, got {raw!r}") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class WebhookConfig:
    database_dsn: str
    iothub_tokens: tuple[str, ...]
    pro_path_secret: str | None = None
    max_body_bytes: int = 1_048_576
    max_items: int = 1000
    pool_min_size: int | None = None  # None: = pool_max_size (connections stay open, see store.warm_up)
    pool_max_size: int = 4
    pool_timeout_s: float = 3.0
    connect_timeout_s: int = 3
    #: Bound on the database work of one request; past it the connection is cut and the sender gets 503.
    request_timeout_s: float = 5.0
    time_max_future_s: float = DEFAULT_MAX_FUTURE_S
    time_floor: datetime = DEFAULT_FLOOR
    event_time_fields: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_EVENT_TIME_FIELDS))
    trip_distance_unit: str = "m"
    log_level: str = "INFO"

    def __post_init__(self):
        if not self.database_dsn:
            raise ConfigError("WEBHOOK_DATABASE_URL is not set")
        if not self.iothub_tokens or not all(self.iothub_tokens):
            raise ConfigError("WEBHOOK_IOTHUB_TOKEN is not set (the IoT-Hub push cannot be authenticated)")
        if self.trip_distance_unit not in ("m", "km"):
            raise ConfigError(f"WEBHOOK_TRIP_DISTANCE_UNIT must be 'm' or 'km', got {self.trip_distance_unit!r}")
        if self.pool_min_size is not None and self.pool_min_size > self.pool_max_size:
            raise ConfigError("WEBHOOK_DB_POOL_MIN must not exceed WEBHOOK_DB_POOL_MAX")
        unknown = set(self.event_time_fields) - set(DEFAULT_EVENT_TIME_FIELDS)
        if unknown:
            raise ConfigError(f"WEBHOOK_EVENT_TIME_FIELDS names unknown paths: {sorted(unknown)}")
        try:
            self.plausibility  # noqa: B018 - validates the window
        except ValueError as exc:
            raise ConfigError(f"WEBHOOK_TIME_MAX_FUTURE_S / WEBHOOK_TIME_FLOOR: {exc}") from exc

    @property
    def plausibility(self) -> PlausibilityWindow:
        """The event-time plausibility window (tracksolid_hook.plausibility)."""
        return PlausibilityWindow(self.time_max_future_s, self.time_floor)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebhookConfig:
        environ = os.environ if environ is None else environ
        tokens = tuple(t.strip() for t in (_secret(environ, "WEBHOOK_IOTHUB_TOKEN") or "").split(",") if t.strip())
        time_fields = dict(DEFAULT_EVENT_TIME_FIELDS)
        if environ.get("WEBHOOK_EVENT_TIME_FIELDS"):
            try:
                override = json.loads(environ["WEBHOOK_EVENT_TIME_FIELDS"])
                if not isinstance(override, dict):
                    raise TypeError("not an object")
                for path, names in override.items():
                    names = [names] if isinstance(names, str) else names
                    if not names or not all(isinstance(n, str) and n for n in names):
                        raise TypeError(f"{path}: expected a field name or a list of them")
                    time_fields[path.lstrip("/")] = tuple(names)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"WEBHOOK_EVENT_TIME_FIELDS must be a JSON object of field lists: {exc}") from exc
        return cls(
            database_dsn=_secret(environ, "WEBHOOK_DATABASE_URL") or "",
            iothub_tokens=tokens,
            pro_path_secret=_secret(environ, "WEBHOOK_PRO_PATH_SECRET"),
            max_body_bytes=_number(environ, "WEBHOOK_MAX_BODY_BYTES", cls.max_body_bytes),
            max_items=_number(environ, "WEBHOOK_MAX_ITEMS", cls.max_items),
            # Every connection kept open by default (min = max): a request never waits for a new one.
            pool_min_size=_number(environ, "WEBHOOK_DB_POOL_MIN", None),
            # One connection per gunicorn thread: a thread never waits for another's connection.
            pool_max_size=_number(environ, "WEBHOOK_DB_POOL_MAX",
                                  _number(environ, "WEBHOOK_THREADS", cls.pool_max_size)),
            pool_timeout_s=_number(environ, "WEBHOOK_DB_TIMEOUT_S", cls.pool_timeout_s, float),
            connect_timeout_s=_number(environ, "WEBHOOK_DB_CONNECT_TIMEOUT_S", cls.connect_timeout_s),
            request_timeout_s=_number(environ, "WEBHOOK_DB_REQUEST_TIMEOUT_S", cls.request_timeout_s, float),
            time_max_future_s=_number(environ, "WEBHOOK_TIME_MAX_FUTURE_S", cls.time_max_future_s, float),
            time_floor=_date(environ, "WEBHOOK_TIME_FLOOR", cls.time_floor),
            event_time_fields=time_fields,
            trip_distance_unit=environ.get("WEBHOOK_TRIP_DISTANCE_UNIT", "m").strip().lower(),
            log_level=environ.get("WEBHOOK_LOG_LEVEL", "INFO").upper(),
        )
