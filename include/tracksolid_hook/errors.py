"""Typed failures of the Tracksolid client.

Every exception says what failed — method, account target, batch — and never carries a secret, token or
password (messages are built from names and codes only, never from request parameters).
"""

from __future__ import annotations

from typing import Any


class TracksolidError(Exception):
    """Base class of every error raised by :mod:`tracksolid_hook`."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        target: str | None = None,
        batch: Any = None,
    ) -> None:
        self.method = method
        self.target = target
        self.batch = batch
        where = ", ".join(
            f"{name}={value}"
            for name, value in (("method", method), ("target", target), ("batch", batch))
            if value is not None
        )
        super().__init__(f"{message} ({where})" if where else message)


class TracksolidConfigError(TracksolidError):
    """The ``tracksolid`` connection is missing (or is missing a field, or has an invalid extra), or a
    setting is wrong in a way no retry can fix (e.g. a host name that does not resolve)."""

    retriable = False


class TracksolidApiError(TracksolidError):
    """The platform answered with a non-zero ``code`` that is not retried (or no longer retried).

    ``code`` is the API code as an int (``None`` when the envelope had none), ``api_message`` the
    platform's own text. ``retriable`` is False for codes that fail the same way on every attempt (a wrong
    secret, password or IMEI cap): the task then fails at once, and ``hint`` names the setting to fix.
    """

    def __init__(
        self,
        code: int | None,
        api_message: str | None,
        *,
        method: str | None = None,
        target: str | None = None,
        batch: Any = None,
        retriable: bool = True,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.api_message = api_message
        self.retriable = retriable
        self.hint = hint
        text = f"Tracksolid API error code={code}: {api_message or 'no message'}"
        super().__init__(
            f"{text} — {hint}" if hint else text,
            method=method,
            target=target,
            batch=batch,
        )


class TracksolidRetryExhausted(TracksolidError):
    """A retryable fault (-1, 1006, HTTP 5xx, connection error, timeout) outlasted the retry budget."""

    def __init__(
        self,
        attempts: int,
        last_error: str,
        *,
        method: str | None = None,
        target: str | None = None,
        batch: Any = None,
    ) -> None:
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(
            f"Tracksolid call gave up after {attempts} attempts; last error: {last_error}",
            method=method,
            target=target,
            batch=batch,
        )


def is_retriable(exc: BaseException) -> bool:
    """False for failures that cannot succeed on retry (settings errors, non-retriable API codes)."""
    if isinstance(exc, TracksolidConfigError):
        return False
    return getattr(exc, "retriable", True) is not False


class TracksolidResponseError(TracksolidError):
    """The response could not be understood (not JSON, not an envelope, unexpected payload shape)."""
