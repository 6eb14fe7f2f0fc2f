"""Settings of a ``tracksolid`` connection: its fields, its extras and the default of every extra.

Every choice the API document leaves open (TRACKSOLID_API.md §9) is an extra with a default here, so
production can be switched without a code change. :func:`settings_from_connection` validates them and
fails with a :class:`~tracksolid_hook.errors.TracksolidConfigError` naming the bad field.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tracksolid_hook.errors import TracksolidConfigError
from tracksolid_hook.failures import DEFAULT_FAIL_FAST_CODES

log = logging.getLogger(__name__)

DEFAULT_PATH = "/route/rest"

#: Doc limits on IMEIs per call ("no more than 100 each time"); the batch size (50) is applied on top.
DEFAULT_METHOD_IMEI_CAPS: dict[str, int] = {
    "jimi.device.location.get": 100,
    "jimi.device.track.mileage": 100,
    "jimi.open.platform.report.parking": 100,
    "jimi.device.alarm.list": 100,
    "jimi.device.obd.list": 100,
}

#: Longest window one call may cover, in days (doc: track 7 days, alarms 1 month, OBD 31 days).
#: "1 month" is read as 28 days — the shortest calendar month — so any reading of it holds.
DEFAULT_MAX_SPAN_DAYS: dict[str, float] = {
    "jimi.device.track.list": 7,
    "jimi.device.alarm.list": 28,
    "jimi.device.obd.list": 31,
}


#: ``database``: one limit shared through the live database by every worker on every machine (default);
#: ``file``: one limit per machine (a file lock), for a deployment without that database.
RATE_LIMITERS = ("database", "file")


@dataclass(frozen=True)
class TracksolidSettings:
    """Everything the hook needs from the ``tracksolid`` connection.

    Secrets (``password``, ``app_secret``) are excluded from ``repr`` so they never reach a log line.
    """

    url: str
    account: str
    password: str = field(repr=False)
    app_key: str = ""
    app_secret: str = field(default="", repr=False)
    targets: tuple[str, ...] = ()
    discover_targets: bool = False
    batch_size: int = 50
    token_ttl_s: int = 7200
    token_refresh_margin_s: int = 300
    token_use_refresh: bool = True
    token_lock_timeout_s: float = 120.0
    #: Below 5 requests/s, a typical platform limit: a default equal to the server's limit draws 1006.
    max_requests_per_s: float = 4.0
    rate_limiter: str = "database"
    rate_limit_window_s: float = 1.0
    rate_limit_guard_s: float = 0.05
    rate_limit_dir: str = ""
    timeout_s: float = 60.0
    max_attempts: int = 6
    retry_budget_s: float = 300.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    retry_codes: tuple[int, ...] = (-1, 1005, 1006)
    token_invalid_codes: tuple[int, ...] = (1004,)
    sign_error_codes: tuple[int, ...] = ()
    fail_fast_codes: tuple[int, ...] = DEFAULT_FAIL_FAST_CODES
    acc_type_values: dict[str, str] = field(default_factory=lambda: {"off": "off", "on": "on"})
    start_row_base: int = 0
    page_size: int = 100
    max_pages: int = 1000
    alarm_row_cap: int = 1000
    method_imei_caps: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_METHOD_IMEI_CAPS))
    max_span_days: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MAX_SPAN_DAYS))
    map_type: str = ""

    def imei_cap(self, method: str) -> int:
        """How many IMEIs one call of ``method`` may carry: the batch size, never above the doc's cap."""
        return max(1, min(self.batch_size, self.method_imei_caps.get(method, self.batch_size)))


def _as_list(value: Any, name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TracksolidConfigError(f"extra {name!r} is not a JSON list: {exc}") from exc
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise TracksolidConfigError(f"extra {name!r} must be a list or a comma-separated string")
    return [str(v).strip() for v in value if str(v).strip()]


def _as_dict(value: Any, name: str) -> dict:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise TracksolidConfigError(f"extra {name!r} is not a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise TracksolidConfigError(f"extra {name!r} must be an object")
    return value


def _as_number(value: Any, name: str, kind: type, minimum: float | None = None):
    try:
        number = kind(value)
    except (TypeError, ValueError) as exc:
        raise TracksolidConfigError(f"extra {name!r} must be a number, got {value!r}") from exc
    if minimum is not None and number < minimum:
        raise TracksolidConfigError(f"extra {name!r} must be >= {minimum}, got {number}")
    return number


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise TracksolidConfigError(f"extra {name!r} must be a boolean, got {value!r}")


def endpoint_url(host: str | None, port: int | None = None, *, scheme: str | None = None,
                 path: str | None = None) -> str:
    """Connection host → request URL. ``eu-open.tracksolidpro.com`` becomes
    ``https://eu-open.tracksolidpro.com/route/rest``; a full URL is kept (port added when given).

    ``scheme`` (extra ``scheme``) applies to a bare host: the URI form of a connection
    (``tracksolid://login:pw@host:port/route%2Frest?scheme=http``) has no other place for it — or put the
    scheme in the host (``tracksolid://http://login:pw@host:port/…``), which Airflow also parses. ``path``
    (the connection's schema field, i.e. the URI's path) is used when the host carries none."""
    if not host:
        raise TracksolidConfigError("connection host (regional endpoint URL) is empty")
    text = host.strip()
    if "://" not in text:
        wanted = (scheme or "https").strip().lower()
        if wanted not in ("http", "https"):
            raise TracksolidConfigError(f"extra 'scheme' must be http or https, got {scheme!r}")
        text = f"{wanted}://{text}"
    parts = urlsplit(text)
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    if parts.path not in ("", "/"):
        url_path = parts.path
    elif path and path.strip("/"):
        url_path = "/" + path.strip("/")
    else:
        url_path = DEFAULT_PATH
    return urlunsplit((parts.scheme, netloc, url_path, parts.query, ""))


def settings_from_connection(conn: Any) -> TracksolidSettings:
    """Build settings from an Airflow ``Connection`` (host, login, password, extras)."""
    extras = dict(conn.extra_dejson or {})
    login = (conn.login or "").strip()
    if not login:
        raise TracksolidConfigError("connection login (Tracksolid account) is empty")
    if not conn.password:
        raise TracksolidConfigError("connection password (account password) is empty")
    app_key = str(extras.get("app_key") or "").strip()
    app_secret = str(extras.get("app_secret") or "").strip()
    if not app_key or not app_secret:
        raise TracksolidConfigError("extras 'app_key' and 'app_secret' are required")

    configured_targets = tuple(_as_list(extras.get("targets"), "targets"))
    kwargs: dict[str, Any] = {
        "url": endpoint_url(conn.host, conn.port, scheme=extras.get("scheme") or None,
                            path=getattr(conn, "schema", None)),
        "account": login,
        "password": conn.password,
        "app_key": app_key,
        "app_secret": app_secret,
        "targets": configured_targets or (login,),
        # No 'targets': the login and its sub-accounts (jimi.user.child.list) are the targets.
        "discover_targets": not configured_targets,
    }
    numeric = {
        "batch_size": (int, 1),
        "token_ttl_s": (int, 60),
        "token_refresh_margin_s": (int, 0),
        "token_lock_timeout_s": (float, 1),
        "max_requests_per_s": (float, 0.01),
        "rate_limit_window_s": (float, 0.01),
        "rate_limit_guard_s": (float, 0),
        "timeout_s": (float, 0.1),
        "max_attempts": (int, 1),
        "retry_budget_s": (float, 0),
        "backoff_base_s": (float, 0),
        "backoff_cap_s": (float, 0),
        "start_row_base": (int, 0),
        "page_size": (int, 1),
        "max_pages": (int, 1),
        "alarm_row_cap": (int, 1),
    }
    for name, (kind, minimum) in numeric.items():
        if extras.get(name) not in (None, ""):
            kwargs[name] = _as_number(extras[name], name, kind, minimum)
    if kwargs.get("token_ttl_s", 7200) > 7200:
        raise TracksolidConfigError("extra 'token_ttl_s' must be within 60..7200 (the API's expires_in)")
    for name in ("retry_codes", "token_invalid_codes", "sign_error_codes", "fail_fast_codes"):
        if name in extras and extras[name] is not None:
            kwargs[name] = tuple(int(_as_number(v, name, int)) for v in _as_list(extras[name], name))
    if extras.get("token_use_refresh") not in (None, ""):
        kwargs["token_use_refresh"] = _as_bool(extras["token_use_refresh"], "token_use_refresh")
    if extras.get("acc_type_values") not in (None, ""):
        values = {"off": "off", "on": "on"}
        values.update({str(k): str(v) for k, v in _as_dict(extras["acc_type_values"], "acc_type_values").items()})
        if set(values) != {"off", "on"}:
            raise TracksolidConfigError("extra 'acc_type_values' may only map the keys 'off' and 'on'")
        kwargs["acc_type_values"] = values
    if extras.get("method_imei_caps") not in (None, ""):
        caps = dict(DEFAULT_METHOD_IMEI_CAPS)
        caps.update({str(k): int(_as_number(v, "method_imei_caps", int, 1))
                     for k, v in _as_dict(extras["method_imei_caps"], "method_imei_caps").items()})
        kwargs["method_imei_caps"] = caps
    if extras.get("max_span_days") not in (None, ""):
        spans = dict(DEFAULT_MAX_SPAN_DAYS)
        spans.update({str(k): float(_as_number(v, "max_span_days", float, 0.001))
                      for k, v in _as_dict(extras["max_span_days"], "max_span_days").items()})
        kwargs["max_span_days"] = spans
    if extras.get("rate_limiter") not in (None, ""):
        limiter = str(extras["rate_limiter"]).strip().lower()
        if limiter not in RATE_LIMITERS:
            raise TracksolidConfigError(f"extra 'rate_limiter' must be one of {', '.join(RATE_LIMITERS)}, "
                                        f"got {extras['rate_limiter']!r}")
        kwargs["rate_limiter"] = limiter
    if extras.get("map_type"):
        kwargs["map_type"] = str(extras["map_type"])
    kwargs["rate_limit_dir"] = str(
        extras.get("rate_limit_dir")
        or os.environ.get("TRACKSOLID_RATE_LIMIT_DIR")
        or os.path.join(tempfile.gettempdir(), "tracksolid-rate-limit")
    )
    if extras.get("discover_targets") not in (None, ""):
        kwargs["discover_targets"] = _as_bool(extras["discover_targets"], "discover_targets")
    known = {f.name for f in fields(TracksolidSettings)} | {"scheme"}
    unknown = sorted(set(extras) - known)
    if unknown:
        # A typo must not pass silently, but an extra added for a newer version must not break a run.
        log.warning("ignoring unknown extras in the tracksolid connection: %s", ", ".join(unknown))
    return TracksolidSettings(**kwargs)
