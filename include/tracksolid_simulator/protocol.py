"""Wire conventions of the Tracksolid open platform (TRACKSOLID_API.md §1–§3): signature, times, envelope."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

API_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def sign_params(params: dict, secret: str) -> str:
    """MD5 signature (§2): drop ``sign`` and empty values, sort by name, concatenate ``name+value``, wrap
    with the secret on both sides, upper-case hex."""
    items = sorted((k, str(v)) for k, v in params.items() if k != "sign" and v is not None and str(v) != "")
    text = secret + "".join(k + v for k, v in items) + secret
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def md5_lower(text: str) -> str:
    """``user_pwd_md5``: lower-case hex MD5 of the plain password."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def format_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime(API_TIME_FORMAT)


def format_iso_z(moment: datetime) -> str:
    """The parking report's time style: ``2022-12-10T01:05:33.000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_api_time(text: str | None) -> datetime:
    """Strict ``yyyy-MM-dd HH:mm:ss`` (UTC); raises ValueError otherwise."""
    if not text:
        raise ValueError("missing time")
    return datetime.strptime(text.strip(), API_TIME_FORMAT).replace(tzinfo=UTC)


def num_str(value) -> str | None:
    """Numbers travel as strings (§3)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
