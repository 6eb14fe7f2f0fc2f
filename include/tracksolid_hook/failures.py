"""Which failures can never succeed on retry, and what setting to fix for each.

A wrong app secret, a wrong password, an IMEI the account does not own or a batch above the platform's IMEI
cap fails the same way on every attempt: retrying it (the task's 3 retries with 30/60/120 s waits) only
delays the error by minutes. :func:`fix_hint` names the connection field or extra to change;
:func:`describe_transport_error` turns a ``requests`` exception into "what URL, and why".
"""

from __future__ import annotations

import errno
import socket

import requests

#: API codes that fail on every retry (TRACKSOLID_API.md §3): parameter / signature error, illegal user or
#: device, wrong request method, abnormal request, IMEI list illegal, too many IMEIs, business exception.
DEFAULT_FAIL_FAST_CODES: tuple[int, ...] = (1001, 1002, 1007, 1008, 219, 220, 1100)

TOKEN_METHODS = ("jimi.oauth.token.get", "jimi.oauth.token.refresh")


def fix_hint(code: int | None, method: str | None, conn_id: str) -> str:
    """What to change when ``code`` came back from ``method`` (names the connection's field or extra)."""
    conn = f"connection {conn_id!r}"
    if code == 1001:
        return (f"the platform refused the parameters or the signature: check the extras 'app_key' and "
                f"'app_secret' of {conn} (a wrong secret gives a bad signature), the machine clock (the "
                f"timestamp must be UTC within ±10 min) and, for a data call, the parameters logged above")
    if code == 1002:
        if method in TOKEN_METHODS:
            return f"wrong account or password: check the login and password of {conn}"
        return (f"the account does not own this target or IMEI: check the extra 'targets' of {conn} (each "
                f"target must be the login or one of its sub-accounts) and re-run tracksolid_devices")
    if code in (1007, 1008):
        return (f"the endpoint refused the request method/body: check the host of {conn} (the regional "
                f"'…/route/rest' URL, e.g. https://eu-open.tracksolidpro.com/route/rest)")
    if code in (219, 220):
        return (f"the platform refused the IMEI list: lower the extra 'batch_size' of {conn} or set "
                f"'method_imei_caps' for this method (never above what the platform accepts)")
    return f"the platform refused the call (not retried): check the settings of {conn}"


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None and exc.args and isinstance(exc.args[0], BaseException):
            nxt = exc.args[0]
        reason = getattr(exc, "reason", None)
        if nxt is None and isinstance(reason, BaseException):
            nxt = reason
        if nxt is None:
            break
        exc = nxt
    return exc


def is_name_resolution_failure(exc: BaseException) -> bool:
    """True when the host name of the URL does not resolve (a settings error, not an outage)."""
    cause = _root_cause(exc)
    if isinstance(cause, socket.gaierror):
        return cause.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5))
    return "Name or service not known" in str(exc) or "nodename nor servname" in str(exc)


def describe_transport_error(exc: requests.RequestException, url: str) -> str:
    """``connection refused to http://…/route/rest`` rather than ``ConnectionError``: what and why."""
    cause = _root_cause(exc)
    if isinstance(exc, requests.Timeout):
        why = "timed out"
    elif is_name_resolution_failure(exc):
        why = "host name does not resolve"
    elif isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
        why = "connection refused (nothing listening)"
    elif isinstance(exc, requests.exceptions.SSLError):
        why = f"TLS error ({type(cause).__name__})"
    elif isinstance(cause, OSError) and cause.strerror:
        why = cause.strerror
    else:
        why = type(cause).__name__
    return f"{type(exc).__name__} to {url}: {why}"
