"""TracksolidHook: the Airflow hook of the ``tracksolid`` connection type."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import requests
from airflow.sdk import BaseHook

from tracksolid_hook import parsers
from tracksolid_hook.audit import AuditLog
from tracksolid_hook.batching import chunk, dedupe, split_window, unique_imeis
from tracksolid_hook.errors import (
    TracksolidApiError,
    TracksolidError,
    TracksolidResponseError,
    TracksolidRetryExhausted,
)
from tracksolid_hook.ratelimit import DatabaseRateLimiter, FileRateLimiter, bucket_key, pacing_interval
from tracksolid_hook.settings import TracksolidSettings, settings_from_connection
from tracksolid_hook.signing import password_md5, signed_params
from tracksolid_hook.tokens import Token, TokenCache
from tracksolid_hook.values import format_api_time, to_int, to_text

log = logging.getLogger(__name__)

TOKEN_GET = "jimi.oauth.token.get"
TOKEN_REFRESH = "jimi.oauth.token.refresh"
DEVICE_LIST = "jimi.user.device.list"
DEVICE_DETAIL = "jimi.track.device.detail"
LOCATION_LIST = "jimi.user.device.location.list"
LOCATION_GET = "jimi.device.location.get"
TRACK_LIST = "jimi.device.track.list"
TRACK_MILEAGE = "jimi.device.track.mileage"
PARKING = "jimi.open.platform.report.parking"
ALARM_LIST = "jimi.device.alarm.list"
OBD_LIST = "jimi.device.obd.list"

#: Doc: alarm.list and obd.list take page_size 1..100.
DOC_MAX_PAGE_SIZE = 100
#: A window this short is never split further when the alarm row cap is hit.
MIN_ALARM_SPLIT = timedelta(minutes=1)


class TracksolidHook(BaseHook):
    """Client of the Tracksolid Pro (Jimi IoT) open API, built on a ``tracksolid`` connection.

    Connection fields: **host** = regional endpoint (``https://eu-open.tracksolidpro.com/route/rest``; a
    bare host gets ``https://`` and ``/route/rest``), **login** = account, **password** = account
    password. Extras (all optional except the first two; defaults in brackets):

    ``app_key``, ``app_secret``
        issued by Jimi (required).
    ``targets`` [``[login]``]
        account targets — JSON list or comma-separated string.
    ``batch_size`` [50]
        IMEIs per call (production rule); never above ``method_imei_caps``.
    ``token_ttl_s`` [7200]
        ``expires_in`` asked for (60..7200).
    ``token_refresh_margin_s`` [300]
        renew this long before expiry (at most a fifth of the token's lifetime).
    ``token_use_refresh`` [true]
        renew with ``jimi.oauth.token.refresh`` first; on failure fall back to ``token.get``.
    ``token_lock_timeout_s`` [120]
        how long a task waits for another one renewing the token.
    ``max_requests_per_s`` [4]
        client-side rate, kept strictly under by every process using the same app key + endpoint
        together (the default stays below 5/s, a typical platform limit; set the platform's limit or less).
    ``rate_limiter`` [``database``]
        where the limiter's state lives: ``database`` (``tracksolid.api_rate_limit`` in the ``db_conn_id``
        database: one limit across every worker and machine) or ``file`` (one limit per machine).
    ``rate_limit_window_s`` [1], ``rate_limit_guard_s`` [0.05]
        at most ``floor(max_requests_per_s × window)`` request starts in any window of that length, with
        the guard as slack for send jitter (see :mod:`tracksolid_hook.ratelimit`).
    ``rate_limit_dir`` [``$TRACKSOLID_RATE_LIMIT_DIR`` or ``<tmp>/tracksolid-rate-limit``]
        directory of the rate-limit file (the ``file`` limiter, and the database limiter's fallback when
        the database cannot be reached).
    ``timeout_s`` [60]
        HTTP timeout per attempt.
    ``max_attempts`` [6], ``retry_budget_s`` [300]
        retry budget of one call: attempts, and total seconds spent before giving up.
    ``backoff_base_s`` [0.5], ``backoff_cap_s`` [30]
        exponential backoff ``min(cap, base·2^(n-1))``, equal jitter (half fixed, half random).
    ``retry_codes`` [[-1, 1005, 1006]]
        API codes retried with backoff (HTTP 5xx, connection errors and timeouts always are).
    ``token_invalid_codes`` [[1004]]
        codes meaning "token invalid": renew once (re-signed) and retry.
    ``sign_error_codes`` [[]]
        codes the platform uses for a bad signature / stale timestamp: re-sign once with a fresh
        timestamp and retry (which code that is — 1001 or 1004 — is not documented).
    ``acc_type_values`` [``{"off": "off", "on": "on"}``]
        the ``acc_type`` value sent for parking (off) and idling (on); production sent ``0``.
    ``start_row_base`` [0]
        first ``start_row`` of paged reports (0- or 1-based is not documented).
    ``page_size`` [100]
        rows per page (alarm and OBD lists are capped at the documented 100).
    ``max_pages`` [1000]
        safety stop for a server that ignores paging.
    ``alarm_row_cap`` [1000]
        alarm.list returns at most this many rows per query: a window that hits it is split in two.
    ``method_imei_caps`` [100 for location.get, track.mileage, parking, alarm.list, obd.list]
        documented IMEI maximum per method (JSON object, merged over the defaults).
    ``max_span_days`` [track.list 7, alarm.list 28, obd.list 31]
        longest window per call (JSON object, merged over the defaults).
    ``map_type`` [none]
        ``map_type`` sent to location/track methods (e.g. ``GOOGLE``); none = raw coordinates.

    Every attempt of every call writes one ``tracksolid.ingestion_log`` row through the ``db_conn_id``
    Postgres connection, which also holds the shared token cache. No secret, token or password is
    written there or to the task log.
    """

    conn_name_attr = "tracksolid_conn_id"
    default_conn_name = "tracksolid_api"
    conn_type = "tracksolid"
    hook_name = "Tracksolid Pro"

    def __init__(
        self,
        tracksolid_conn_id: str = default_conn_name,
        db_conn_id: str = "tracksolid_db",
        *,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tracksolid_conn_id = tracksolid_conn_id
        self.db_conn_id = db_conn_id
        self._sleep = sleep
        self._token: Token | None = None
        self._session: requests.Session | None = None

    # --- configuration -----------------------------------------------------------------------------

    @cached_property
    def settings(self) -> TracksolidSettings:
        settings = settings_from_connection(self.get_connection(self.tracksolid_conn_id))
        _mask(settings.password, settings.app_secret, password_md5(settings.password))
        return settings

    @property
    def targets(self) -> list[str]:
        """Account targets (extra ``targets``), default ``[login]``."""
        return list(self.settings.targets)

    @property
    def batch_size(self) -> int:
        """IMEIs per call (extra ``batch_size``), default 50."""
        return self.settings.batch_size

    @cached_property
    def _limiter(self) -> DatabaseRateLimiter | FileRateLimiter:
        s = self.settings
        interval = pacing_interval(s.max_requests_per_s, s.rate_limit_window_s, s.rate_limit_guard_s)
        local = FileRateLimiter.for_endpoint(s.rate_limit_dir, s.app_key, s.url, s.max_requests_per_s, interval)
        if s.rate_limiter == "file":
            return local
        return DatabaseRateLimiter(self._connect_db, bucket_key(s.app_key, s.url), interval, fallback=local)

    def _connect_db(self):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return PostgresHook(postgres_conn_id=self.db_conn_id).get_conn()

    @cached_property
    def _tokens(self) -> TokenCache:
        s = self.settings
        return TokenCache(
            self._connect_db,
            app_key=s.app_key,
            account=s.account,
            margin_s=s.token_refresh_margin_s,
            lock_timeout_s=s.token_lock_timeout_s,
        )

    @cached_property
    def _audit(self) -> AuditLog:
        return AuditLog(self._connect_db)

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def close(self) -> None:
        """Close the HTTP session and the database connections (the hook stays usable)."""
        if self._session is not None:
            self._session.close()
            self._session = None
        if "_tokens" in self.__dict__:
            self._tokens.close()
        if "_audit" in self.__dict__:
            self._audit.close()
        if "_limiter" in self.__dict__:
            self._limiter.close()

    def get_conn(self) -> requests.Session:
        return self._http()

    def test_connection(self) -> tuple[bool, str]:
        """Airflow UI "Test": obtain a token (without caching it) and list the first target's devices."""
        try:
            token = self._obtain_token(None)
            envelope = self._call(
                DEVICE_LIST, {"target": self.targets[0]}, target=self.targets[0],
                imei_count=None, batch=None, token=token,
            )
            count = len(envelope.get("result") or [])
            return True, f"token obtained; {count} devices under {self.targets[0]}"
        except Exception as exc:
            return False, self._scrub(str(exc))

    # --- secrets -----------------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        s = self.settings
        values = [s.password, s.app_secret, password_md5(s.password)]
        if self._token is not None:
            values += [self._token.access_token, self._token.refresh_token or ""]
        return [v for v in values if v and len(v) >= 4]

    def _scrub(self, text: str | None) -> str | None:
        """Remove every known secret from a message before it is logged or stored."""
        if not text:
            return text
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    # --- tokens ------------------------------------------------------------------------------------

    def _current_token(self) -> Token:
        if self._token is None or not self._token.is_fresh(self.settings.token_refresh_margin_s):
            self._use_token(self._tokens.get(self._obtain_token))
        return self._token

    def _renew_token(self, stale: str) -> Token:
        self._use_token(self._tokens.get(self._obtain_token, stale=stale))
        return self._token

    def _use_token(self, token: Token) -> None:
        _mask(token.access_token, token.refresh_token)
        self._token = token

    def _obtain_token(self, cached: Token | None) -> Token:
        """Refresh ``cached`` when possible, else (or when refreshing fails) ask for a new token."""
        s = self.settings
        if cached is not None and cached.refresh_token and s.token_use_refresh:
            try:
                return self._token_request(
                    TOKEN_REFRESH,
                    {
                        "access_token": cached.access_token,
                        "refresh_token": cached.refresh_token,
                        "expires_in": s.token_ttl_s,
                    },
                )
            except TracksolidError as exc:
                log.info("token refresh failed (%s); asking for a new token", type(exc).__name__)
        return self._token_request(
            TOKEN_GET,
            {"user_id": s.account, "user_pwd_md5": password_md5(s.password), "expires_in": s.token_ttl_s},
        )

    def _token_request(self, method: str, params: dict) -> Token:
        issued_at = datetime.now(UTC)
        envelope = self._call(method, params, target=self.settings.account, imei_count=None, batch=None,
                              token=None)
        result = envelope.get("result") or envelope.get("data") or {}
        access = to_text(result.get("accessToken")) if isinstance(result, dict) else None
        if not access:
            raise TracksolidResponseError("token response has no accessToken", method=method)
        lifetime = to_int(result.get("expiresIn")) or self.settings.token_ttl_s
        # Expiry from our own clock at request start: never later than the server's, whatever its skew.
        return Token(
            access_token=access,
            refresh_token=to_text(result.get("refreshToken")),
            issued_at=issued_at,
            expires_at=issued_at + timedelta(seconds=lifetime),
        )

    # --- the call ----------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        params: dict | None = None,
        *,
        target: str | None = None,
        imei_count: int | None = None,
        batch: Any = None,
    ) -> dict:
        """Call ``method`` and return its envelope (code 0 only).

        Token, signing (fresh timestamp per attempt), rate limit, retries with backoff, token renewal on
        1004 and the audit row of every attempt all happen here. Raises
        :class:`TracksolidApiError` for a non-retried API code, :class:`TracksolidRetryExhausted` when
        the retry budget is spent, :class:`TracksolidResponseError` for an unreadable response.
        """
        return self._call(method, dict(params or {}), target=target, imei_count=imei_count, batch=batch,
                          token=...)

    def _call(self, method, params, *, target, imei_count, batch, token) -> dict:
        """``token=...`` → use (and renew) the cached token; ``None`` → unauthenticated (token methods);
        a :class:`Token` → exactly that one."""
        s = self.settings
        authenticated = token is not None
        managed_token = token is ...
        started = time.monotonic()
        renewed = resigned = False
        attempt = 0
        while True:
            attempt += 1
            current = (self._current_token() if managed_token else token) if authenticated else None
            request = signed_params(
                method, params, app_key=s.app_key, app_secret=s.app_secret,
                access_token=current.access_token if current else None,
            )
            self._limiter.acquire()
            outcome = self._attempt(request)
            api_code = outcome["api_code"]
            if outcome["envelope"] is not None and api_code == 0:
                self._audit.write(
                    method=method, target=target, imei_count=imei_count, attempt=attempt,
                    http_status=outcome["http_status"], api_code=0,
                    row_count=_row_count(outcome["envelope"]), duration_ms=outcome["duration_ms"],
                )
                return outcome["envelope"]

            error = self._scrub(outcome["error"])
            self._audit.write(
                method=method, target=target, imei_count=imei_count, attempt=attempt,
                http_status=outcome["http_status"], api_code=api_code, row_count=None,
                duration_ms=outcome["duration_ms"], error=error,
            )
            if api_code is not None:
                if api_code in s.token_invalid_codes and managed_token and not renewed:
                    log.info("%s: token rejected (code %s); renewing once and retrying", method, api_code)
                    renewed = True
                    self._renew_token(stale=current.access_token)
                    continue
                if api_code in s.sign_error_codes and not resigned:
                    log.info("%s: signature/timestamp rejected (code %s); re-signing once", method, api_code)
                    resigned = True
                    continue
                if api_code not in s.retry_codes:
                    if api_code == 1001 and authenticated:
                        log.warning("%s: parameter error; parameters sent: %s", method,
                                    self._scrub(json.dumps(params, default=str, ensure_ascii=False)))
                    raise TracksolidApiError(api_code, self._scrub(outcome["message"]),
                                             method=method, target=target, batch=batch)
            elif not outcome["retryable"]:
                raise TracksolidResponseError(error or "unreadable response", method=method, target=target,
                                              batch=batch)

            delay = self._backoff(attempt)
            elapsed = time.monotonic() - started
            if attempt >= s.max_attempts or elapsed + delay > s.retry_budget_s:
                raise TracksolidRetryExhausted(attempt, error or "unknown", method=method, target=target,
                                               batch=batch)
            log.warning("%s attempt %d failed (%s); retrying in %.2fs", method, attempt, error, delay)
            self._sleep(delay)

    def _attempt(self, request: dict[str, str]) -> dict:
        """One HTTP POST (form-encoded). Never raises for transport or API faults: classifies them."""
        s = self.settings
        outcome = {"http_status": None, "api_code": None, "envelope": None, "message": None,
                   "error": None, "retryable": False, "duration_ms": None}
        t0 = time.monotonic()
        try:
            response = self._http().post(s.url, data=request, timeout=s.timeout_s)
        except requests.Timeout:
            outcome.update(error=f"timeout after {s.timeout_s}s", retryable=True)
        except requests.ConnectionError as exc:
            outcome.update(error=f"connection error ({type(exc).__name__})", retryable=True)
        except requests.RequestException as exc:
            outcome.update(error=f"request failed ({type(exc).__name__})", retryable=False)
        else:
            outcome["http_status"] = response.status_code
            if response.status_code >= 500 or response.status_code == 429:
                outcome.update(error=f"HTTP {response.status_code}", retryable=True)
            elif response.status_code != 200:
                outcome.update(error=f"HTTP {response.status_code}", retryable=False)
            else:
                try:
                    envelope = response.json()
                except ValueError:
                    # A proxy's HTML error page with status 200: transient more often than not.
                    outcome.update(error="response is not JSON", retryable=True)
                else:
                    if not isinstance(envelope, dict) or "code" not in envelope:
                        outcome.update(error="response is not an API envelope", retryable=False)
                    else:
                        code = to_int(envelope.get("code"))
                        message = to_text(envelope.get("message"))
                        outcome.update(
                            envelope=envelope, api_code=code, message=message,
                            error=None if code == 0 else f"code {code}: {message or 'no message'}",
                        )
                        if code is None:
                            outcome.update(envelope=None, error=f"unreadable code {envelope.get('code')!r}: "
                                                               f"{message or 'no message'}")
        outcome["duration_ms"] = int((time.monotonic() - t0) * 1000)
        return outcome

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half of min(cap, base·2^(n-1)) fixed, half random."""
        s = self.settings
        ceiling = min(s.backoff_cap_s, s.backoff_base_s * (2 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    # --- helpers for the typed methods -------------------------------------------------------------

    def _report(self, method: str, result: parsers.ParseResult, target: str | None) -> list[dict]:
        for item, reason in result.rejects:
            log.warning("%s (target %s): item rejected — %s: %s", method, target, reason,
                        json.dumps(item, default=str, ensure_ascii=False)[:2000])
        return result.rows

    def _window(self, begin: datetime, end: datetime) -> tuple[datetime, datetime]:
        """Check the window and keep ``end`` in the past (the API refuses a future end_time)."""
        if begin.tzinfo is None or end.tzinfo is None:
            raise ValueError("begin/end must be aware datetimes (UTC)")
        now = datetime.now(UTC).replace(microsecond=0)
        return begin.astimezone(UTC), min(end.astimezone(UTC), now - timedelta(seconds=1))

    def _span(self, method: str) -> timedelta:
        days = self.settings.max_span_days.get(method)
        return timedelta(days=days) if days else timedelta(days=36500)

    def _batches(self, method: str, imeis: Iterable[str]) -> list[list[str]]:
        return chunk(unique_imeis(imeis), self.settings.imei_cap(method))

    def _pages_by_start_row(self, method: str, params: dict, extract: Callable[[dict], tuple[list, int | None]],
                            *, target: str | None, batch: list[str]) -> list:
        """Page with ``start_row``/``page_size`` until a short page, the reported total, or a repeat."""
        s = self.settings
        items: list = []
        start_row = s.start_row_base
        previous: list | None = None
        for _ in range(s.max_pages):
            envelope = self.call(method, {**params, "start_row": start_row, "page_size": s.page_size},
                                 target=target, imei_count=len(batch), batch=_batch_label(batch))
            page, total = extract(envelope)
            if page == previous and page:
                log.warning("%s: server repeated a page (start_row ignored?); stopping", method)
                break
            items.extend(page)
            if len(page) < s.page_size or (total is not None and len(items) >= total):
                break
            previous = page
            start_row += s.page_size
        else:
            log.warning("%s: stopped after max_pages=%d", method, s.max_pages)
        return items

    def _pages_by_page_no(self, method: str, params: dict, extract: Callable[[dict], tuple[list, int | None]],
                          *, target: str | None, batch: list[str]) -> list:
        """Page with ``page_no`` (from 1) / ``page_size`` (≤ 100) until a short page or the total."""
        s = self.settings
        page_size = min(s.page_size, DOC_MAX_PAGE_SIZE)
        items: list = []
        previous: list | None = None
        for page_no in range(1, s.max_pages + 1):
            envelope = self.call(method, {**params, "page_no": page_no, "page_size": page_size},
                                 target=target, imei_count=len(batch), batch=_batch_label(batch))
            page, total = extract(envelope)
            if page == previous and page:
                log.warning("%s: server repeated a page (page_no ignored?); stopping", method)
                break
            items.extend(page)
            if len(page) < page_size or (total is not None and len(items) >= total):
                break
            previous = page
        else:
            log.warning("%s: stopped after max_pages=%d", method, s.max_pages)
        return items

    # --- typed methods (the endpoint DAGs' API) ----------------------------------------------------

    def list_devices(self, target: str) -> list[dict]:
        """``jimi.user.device.list`` for one account target → ``devices`` rows (+ ``account``=target)."""
        envelope = self.call(DEVICE_LIST, {"target": target}, target=target)
        rows = self._report(DEVICE_LIST, parsers.parse_items(
            parsers.parse_device_list_item, _list(envelope.get("result")), account=target), target)
        return dedupe(rows, parsers.ROW_KEYS["devices"])

    def device_detail(self, imei: str) -> dict:
        """``jimi.track.device.detail`` for one IMEI → a ``devices`` row of the detail fields.
        Merge it into the list row with :func:`tracksolid_hook.parsers.merge_device`."""
        envelope = self.call(DEVICE_DETAIL, {"imei": imei}, imei_count=1, batch=imei)
        result = envelope.get("result")
        if not isinstance(result, dict):
            raise TracksolidResponseError("device detail has no result object", method=DEVICE_DETAIL,
                                          batch=imei)
        try:
            return parsers.parse_device_detail(result)
        except parsers.RowRejected as exc:
            raise TracksolidResponseError(f"device detail unusable: {exc}", method=DEVICE_DETAIL,
                                          batch=imei) from exc

    def location_list(self, target: str) -> list[dict]:
        """``jimi.user.device.location.list`` → ``live_positions`` rows (devices without a fix are
        rejected and logged; devices may also be silently missing — see :meth:`location_get`)."""
        envelope = self.call(LOCATION_LIST, {"target": target, "map_type": self.settings.map_type},
                             target=target)
        rows = self._report(LOCATION_LIST, parsers.parse_items(
            parsers.parse_location, _list(envelope.get("result"))), target)
        return dedupe(rows, parsers.ROW_KEYS["live_positions"])

    def location_get(self, imeis: Sequence[str]) -> list[dict]:
        """``jimi.device.location.get`` for any number of IMEIs (batched) → ``live_positions`` rows."""
        rows: list[dict] = []
        for batch in self._batches(LOCATION_GET, imeis):
            envelope = self.call(LOCATION_GET, {"imeis": ",".join(batch), "map_type": self.settings.map_type},
                                 imei_count=len(batch), batch=_batch_label(batch))
            rows += self._report(LOCATION_GET, parsers.parse_items(
                parsers.parse_location, _list(envelope.get("result"))), None)
        return dedupe(rows, parsers.ROW_KEYS["live_positions"])

    def track_list(self, imei: str, begin: datetime, end: datetime) -> list[dict]:
        """``jimi.device.track.list`` (one IMEI per call) → ``position_history`` rows, source
        ``track_list``; windows longer than 7 days are split."""
        begin, end = self._window(begin, end)
        rows: list[dict] = []
        for b, e in split_window(begin, end, self._span(TRACK_LIST)):
            envelope = self.call(
                TRACK_LIST,
                {"imei": imei, "begin_time": format_api_time(b), "end_time": format_api_time(e),
                 "map_type": self.settings.map_type},
                imei_count=1, batch=imei,
            )
            rows += self._report(TRACK_LIST, parsers.parse_items(
                parsers.parse_track_point, _list(envelope.get("result")), imei=imei), None)
        return sorted(dedupe(rows, parsers.ROW_KEYS["position_history"]), key=lambda r: r["gps_time"])

    def track_mileage(self, imeis: Sequence[str], begin: datetime, end: datetime) -> list[dict]:
        """``jimi.device.track.mileage`` → ``trips`` rows (``distance_km`` = metres / 1000), paged by
        ``start_row``."""
        begin, end = self._window(begin, end)
        if begin >= end:
            return []
        rows: list[dict] = []
        for batch in self._batches(TRACK_MILEAGE, imeis):
            params = {"imeis": ",".join(batch), "begin_time": format_api_time(begin),
                      "end_time": format_api_time(end)}
            items = self._pages_by_start_row(
                TRACK_MILEAGE, params, lambda env: (_list(env.get("result")), None), target=None, batch=batch)
            rows += self._report(TRACK_MILEAGE, parsers.parse_items(parsers.parse_trip, items), None)
        return dedupe(rows, parsers.ROW_KEYS["trips"])

    def parking(self, account: str, imeis: Sequence[str], begin: datetime, end: datetime,
                acc_type: str = "off") -> list[dict]:
        """``jimi.open.platform.report.parking`` → ``parking_events`` rows. ``acc_type`` is "off"
        (parking) or "on" (idling); the value sent is the ``acc_type_values`` extra."""
        if acc_type not in ("off", "on"):
            raise ValueError(f"acc_type must be 'off' or 'on', got {acc_type!r}")
        begin, end = self._window(begin, end)
        if begin >= end:
            return []
        rows: list[dict] = []
        for batch in self._batches(PARKING, imeis):
            params = {"account": account, "imeis": ",".join(batch), "start_time": format_api_time(begin),
                      "end_time": format_api_time(end), "acc_type": self.settings.acc_type_values[acc_type]}
            items = self._pages_by_start_row(PARKING, params, _parking_page, target=account, batch=batch)
            rows += self._report(PARKING, parsers.parse_items(parsers.parse_parking, items, acc_type=acc_type),
                                 account)
        return dedupe(rows, parsers.ROW_KEYS["parking_events"])

    def alarm_list(self, imeis: Sequence[str], begin: datetime, end: datetime) -> list[dict]:
        """``jimi.device.alarm.list`` → ``alarms`` rows (source ``poll``), paged by ``page_no``;
        windows over a month are split, and a window that hits the 1000-row cap is halved."""
        begin, end = self._window(begin, end)
        rows: list[dict] = []
        for batch in self._batches(ALARM_LIST, imeis):
            pending = split_window(begin, end, self._span(ALARM_LIST))
            while pending:
                b, e = pending.pop(0)
                params = {"imeis": ",".join(batch), "begin_time": format_api_time(b),
                          "end_time": format_api_time(e)}
                items = self._pages_by_page_no(
                    ALARM_LIST, params, lambda env: (_list(env.get("result")), None), target=None, batch=batch)
                if len(items) >= self.settings.alarm_row_cap and e - b > MIN_ALARM_SPLIT:
                    middle = b + (e - b) / 2
                    middle = middle.replace(microsecond=0)
                    log.info("alarm.list hit the %d-row cap for %s..%s; splitting",
                             self.settings.alarm_row_cap, b, e)
                    pending[:0] = [(b, middle), (middle, e)]
                    continue
                rows += self._report(ALARM_LIST, parsers.parse_items(parsers.parse_alarm, items), None)
        return dedupe(rows, parsers.ROW_KEYS["alarms"])

    def obd_list(self, account: str, imeis: Sequence[str], begin: datetime, end: datetime) -> list[dict]:
        """``jimi.device.obd.list`` → ``obd_readings`` rows (source ``poll``), paged by ``page_no``;
        windows over 31 days are split."""
        begin, end = self._window(begin, end)
        rows: list[dict] = []
        for batch in self._batches(OBD_LIST, imeis):
            for b, e in split_window(begin, end, self._span(OBD_LIST)):
                params = {"account": account, "imeis": ",".join(batch), "start_time": format_api_time(b),
                          "end_time": format_api_time(e)}
                items = self._pages_by_page_no(OBD_LIST, params, _obd_page, target=account, batch=batch)
                rows += self._report(OBD_LIST, parsers.parse_items(parsers.parse_obd, items), account)
        return dedupe(rows, parsers.ROW_KEYS["obd_readings"])


# --- module helpers --------------------------------------------------------------------------------

def _mask(*values: str | None) -> None:
    """Register values with Airflow's log masker (task logs show ``***`` instead)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older SDK
        return
    for value in values:
        if value:
            mask_secret(value)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _batch_label(batch: Sequence[str]) -> str:
    """Short, log-friendly name of an IMEI batch: first..last (n)."""
    if not batch:
        return "empty"
    return batch[0] if len(batch) == 1 else f"{batch[0]}..{batch[-1]} ({len(batch)})"


def _parking_page(envelope: dict) -> tuple[list, int | None]:
    data = envelope.get("data")
    if not isinstance(data, dict):
        return [], None
    return _list(data.get("rows")), to_int(data.get("dataTotalRows"))


def _obd_page(envelope: dict) -> tuple[list, int | None]:
    data = envelope.get("data")
    if not isinstance(data, dict):
        return _list(envelope.get("result")), None
    return _list(data.get("result")), to_int(data.get("totalRecord"))


def _row_count(envelope: dict) -> int:
    """Rows a successful envelope carries, for the audit row (result list, data.rows, data.result)."""
    result = envelope.get("result")
    if isinstance(result, list):
        return len(result)
    data = envelope.get("data")
    if isinstance(data, dict):
        for name in ("rows", "result"):
            if isinstance(data.get(name), list):
                return len(data[name])
    if isinstance(data, list):
        return len(data)
    return 1 if isinstance(result, dict) else 0


__all__ = ["TracksolidHook"]
