"""Request signing exactly as the Tracksolid Pro document specifies (TRACKSOLID_API.md §2).

1. every parameter except ``sign``, dropping those whose value is empty;
2. sorted by name (byte order);
3. concatenated ``name1value1name2value2…`` without separators;
4. wrapped with the app secret: ``secret + concatenated + secret``;
5. MD5 over the UTF-8 bytes, upper-case hex.

The timestamp (UTC, 24-hour ``yyyy-MM-dd HH:mm:ss``) is part of the signed string, so every attempt is
signed afresh by :func:`signed_params` with a new timestamp.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from tracksolid_hook.values import format_api_time

SIGN_METHOD = "md5"
API_VERSION = "1.0"
RESPONSE_FORMAT = "json"


def as_param_value(value: Any) -> str | None:
    """Everything goes on the wire as a string; ``None`` and ``""`` mean "not sent"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_api_time(value)
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    text = str(value)
    return text if text != "" else None


def clean_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Stringify values and drop the empty ones (they are neither signed nor sent)."""
    cleaned = {}
    for name, value in params.items():
        text = as_param_value(value)
        if text is not None:
            cleaned[str(name)] = text
    return cleaned


def signing_string(params: Mapping[str, Any], secret: str) -> str:
    """The exact string that is MD5-hashed (exposed for the known-answer tests)."""
    cleaned = clean_params({k: v for k, v in params.items() if k != "sign"})
    body = "".join(name + cleaned[name] for name in sorted(cleaned, key=lambda n: n.encode("utf-8")))
    return f"{secret}{body}{secret}"


def sign(params: Mapping[str, Any], secret: str) -> str:
    """Upper-case hex MD5 signature of ``params`` with ``secret``."""
    return hashlib.md5(signing_string(params, secret).encode("utf-8")).hexdigest().upper()


def password_md5(password: str) -> str:
    """``user_pwd_md5``: lower-case hex MD5 of the plain account password."""
    return hashlib.md5(password.encode("utf-8")).hexdigest()


def api_timestamp(now: datetime | None = None) -> str:
    """UTC, 24-hour ``yyyy-MM-dd HH:mm:ss``."""
    return format_api_time(now or datetime.now(UTC))


def signed_params(
    method: str,
    params: Mapping[str, Any],
    *,
    app_key: str,
    app_secret: str,
    access_token: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> dict[str, str]:
    """Common parameters + method parameters, cleaned and signed with a fresh timestamp."""
    request = {
        **params,
        "method": method,
        "timestamp": api_timestamp(clock() if clock else None),
        "app_key": app_key,
        "sign_method": SIGN_METHOD,
        "v": API_VERSION,
        "format": RESPONSE_FORMAT,
    }
    if access_token:
        request["access_token"] = access_token
    cleaned = clean_params(request)
    cleaned["sign"] = sign(cleaned, app_secret)
    return cleaned
