"""TracksolidHook: the Airflow hook of the ``tracksolid`` connection type."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import requests
from airflow.sdk import BaseHook

from tracksolid_hook import parsers
from tracksolid_hook.audit import AuditLog
from tracksolid_hook.errors import (
    TracksolidApiError,
    TracksolidConfigError,
    TracksolidError,
    TracksolidResponseError,
    TracksolidRetryExhausted,
)
from tracksolid_hook.failures import describe_transport_error, fix_hint, is_name_resolution_failure
from tracksolid_hook.methods import (  # noqa: F401 (method names re-exported)
    ALARM_LIST,
    CHILD_LIST,
    DEVICE_DETAIL,
    DEVICE_LIST,
    LOCATION_GET,
    LOCATION_LIST,
    MAX_CHILD_DEPTH,
    MAX_TARGETS,
    OBD_LIST,
    PARKING,
    TRACK_LIST,
    TRACK_MILEAGE,
    TracksolidMethods,
)
from tracksolid_hook.payloads import result_rows
from tracksolid_hook.ratelimit import DatabaseRateLimiter, FileRateLimiter, bucket_key, pacing_interval
from tracksolid_hook.settings import TracksolidSettings, settings_from_connection
from tracksolid_hook.signing import password_md5, signed_params
from tracksolid_hook.tokens import Token, TokenCache
from tracksolid_hook.values import to_int, to_text

log = logging.getLogger(__name__)

TOKEN_GET = "jimi.oauth.token.get"
TOKEN_REFRESH = "jimi.oauth.token.refresh"


class TracksolidHook(TracksolidMethods, BaseHook):
    """Client of the Tracksolid Pro (Jimi IoT) open API, built on a ``tracksolid`` connection.

    Connection fields: **host** = regional endpoint (``https://eu-open.tracksolidpro.com/route/rest``; a
    bare host gets ``https://`` and ``/route/rest``), **login** = account, **password** = account
    password. Extras (all optional except the first two; defaults in brackets):

    ``app_key``, ``app_secret``
        issued by Jimi (required).
    ``targets`` [discovered]
        account targets — JSON list or comma-separated string. Without it the targets are the login and
        its sub-accounts, discovered with ``jimi.user.child.list`` (:meth:`account_targets`).
    ``discover_targets`` [true without ``targets``]
        whether to add the sub-accounts of the login (false: the login alone).
    ``scheme`` [https]
        scheme of a bare host (the URI form's only way to say ``http``, besides ``tracksolid://http://…``).
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
    ``fail_fast_codes`` [[1001, 1002, 1007, 1008, 219, 220, 1100]]
        API codes that fail the same way on every attempt (wrong secret, password, IMEI, IMEI cap): the
        error names the setting to fix and the task fails without retrying.
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
        try:
            conn = self.get_connection(self.tracksolid_conn_id)
        except Exception as exc:
            if "not defined" not in str(exc) and type(exc).__name__ != "AirflowNotFoundException":
                raise
            raise TracksolidConfigError(
                f"Airflow connection {self.tracksolid_conn_id!r} is not defined: create it (type tracksolid) "
                f"or set AIRFLOW_CONN_{self.tracksolid_conn_id.upper()}") from exc
        try:
            settings = settings_from_connection(conn)
        except TracksolidConfigError as exc:
            raise TracksolidConfigError(f"connection {self.tracksolid_conn_id!r}: {exc}") from exc
        _mask(settings.password, settings.app_secret, password_md5(settings.password))
        return settings

    @property
    def targets(self) -> list[str]:
        """Account targets as configured (extra ``targets``), default ``[login]``; see
        :meth:`account_targets` for the list with discovered sub-accounts."""
        return list(self.settings.targets)

    def account_targets(self) -> list[str]:
        """The targets to ingest: the ``targets`` extra, or — without it — the login and every sub-account
        below it (``jimi.user.child.list``, breadth-first). A head account usually owns no device itself,
        so without discovery it would list 0 devices and every DAG would succeed doing nothing."""
        s = self.settings
        if not s.discover_targets:
            return list(s.targets)
        found = [s.account]
        frontier = [s.account]
        for _ in range(MAX_CHILD_DEPTH):
            following = []
            for parent in frontier:
                try:
                    children = self.child_accounts(parent)
                except (TracksolidApiError, TracksolidResponseError) as exc:
                    raise TracksolidConfigError(
                        f"no 'targets' extra in connection {self.tracksolid_conn_id!r} and sub-account "
                        f"discovery (jimi.user.child.list for {parent}) failed: {exc}. Set the extra "
                        "'targets' to the account names to ingest") from exc
                for child in children:
                    if child not in found and len(found) < MAX_TARGETS:
                        found.append(child)
                        following.append(child)
            if not following:
                break
            frontier = following
        log.info("targets discovered under %s: %s", s.account, ", ".join(found))
        return found

    def child_accounts(self, target: str) -> list[str]:
        """``jimi.user.child.list``: the account names directly below ``target``."""
        items, _ = self._fetch(CHILD_LIST, {"target": target}, result_rows, target=target)
        names = []
        for item in items:
            name = to_text(item.get("account")) if isinstance(item, dict) else to_text(item)
            if name:
                names.append(name)
            else:
                log.warning("%s (target %s): item without an account name ignored: %s", CHILD_LIST, target,
                            json.dumps(item, default=str)[:500])
        return names

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
            count = len(result_rows(envelope))
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

    def _fetch(self, method: str, params: dict, extract: Callable[[dict], Any], *,
               parse: Callable[[list], parsers.ParseResult] | None = None, target: str | None = None,
               imei_count: int | None = None, batch: Any = None) -> tuple[Any, parsers.ParseResult | None]:
        """Like :meth:`call`, then read the items with ``extract`` (a :mod:`~tracksolid_hook.payloads`
        reader) and the rows with ``parse`` *before* the attempt is audited: the audit row counts the rows
        really produced and names the rejected items, and a payload that cannot be read is audited as an
        error and raised (never a silent zero). Returns (what ``extract`` returned, the parse result)."""
        holder: dict[str, Any] = {}

        def read(envelope: dict) -> tuple[int, str | None]:
            got = extract(envelope)
            items = got[0] if isinstance(got, tuple) else got
            try:
                parsed = parse(items) if parse is not None else None
            except Exception as exc:  # a parser bug or a shape it does not know: the batch fails, audited
                raise TracksolidResponseError(f"payload could not be parsed: {type(exc).__name__}: {exc}") from exc
            holder.update(got=got, parsed=parsed)
            if parsed is None:
                return len(items), None
            return len(parsed.rows), _reject_note(parsed)

        self._call(method, dict(params or {}), target=target, imei_count=imei_count, batch=batch, token=...,
                   extract=read)
        return holder["got"], holder["parsed"]

    def _call(self, method, params, *, target, imei_count, batch, token, extract=None) -> dict:
        """``token=...`` → use (and renew) the cached token; ``None`` → unauthenticated (token methods);
        a :class:`Token` → exactly that one. ``extract`` reads the rows of a successful envelope."""
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
                try:
                    count, note = extract(outcome["envelope"]) if extract is not None else (None, None)
                except TracksolidResponseError as exc:
                    # Valid JSON of the wrong shape: the same answer would come again — audit and fail.
                    self._audit.write(
                        method=method, target=target, imei_count=imei_count, attempt=attempt,
                        http_status=outcome["http_status"], api_code=0, row_count=None,
                        duration_ms=outcome["duration_ms"], error=self._scrub(str(exc)),
                    )
                    raise TracksolidResponseError(str(exc), method=method, target=target, batch=batch) from exc
                self._audit.write(
                    method=method, target=target, imei_count=imei_count, attempt=attempt,
                    http_status=outcome["http_status"], api_code=0,
                    row_count=count if count is not None else _row_count(outcome["envelope"]),
                    duration_ms=outcome["duration_ms"], error=self._scrub(note),
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
                    fatal = api_code in s.fail_fast_codes
                    raise TracksolidApiError(
                        api_code, self._scrub(outcome["message"]), method=method, target=target, batch=batch,
                        retriable=not fatal,
                        hint=fix_hint(api_code, method, self.tracksolid_conn_id) if fatal else None)
            elif outcome.get("fatal"):
                raise TracksolidConfigError(f"{error} — check the host of connection {self.tracksolid_conn_id!r}",
                                            method=method, target=target, batch=batch)
            elif not outcome["retryable"]:
                raise TracksolidResponseError(error or "unreadable response", method=method, target=target,
                                              batch=batch)

            delay = self._backoff(attempt)
            elapsed = time.monotonic() - started
            if attempt >= s.max_attempts or elapsed + delay > s.retry_budget_s:
                last = error or "unknown"
                if outcome["http_status"] is None and api_code is None:  # never got an answer: say where to look
                    last += f" — if this persists, check the host of connection {self.tracksolid_conn_id!r}"
                raise TracksolidRetryExhausted(attempt, last, method=method, target=target, batch=batch)
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
        except requests.Timeout as exc:
            outcome.update(error=f"{describe_transport_error(exc, s.url)} after {s.timeout_s}s", retryable=True)
        except requests.ConnectionError as exc:
            # A name that does not resolve is a setting, not an outage: fail at once.
            outcome.update(error=describe_transport_error(exc, s.url), retryable=True,
                           fatal=is_name_resolution_failure(exc))
        except requests.RequestException as exc:
            outcome.update(error=f"request failed: {describe_transport_error(exc, s.url)}", retryable=False)
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


def _reject_note(parsed: parsers.ParseResult) -> str | None:
    """The audit row's note for a batch with rejected items: how many, and why (by reason)."""
    if not parsed.rejects:
        return None
    reasons: dict[str, int] = {}
    for _, reason in parsed.rejects:
        reasons[reason] = reasons.get(reason, 0) + 1
    listed = "; ".join(f"{reason} ({count})" for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return f"{len(parsed.rejects)} item(s) rejected, not stored: {listed}"[:1000]


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
