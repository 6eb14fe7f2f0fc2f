"""Tracksolid Pro (Jimi IoT) client for Airflow: the ``tracksolid`` connection type and its hook.

``TracksolidHook`` signs, authenticates (tokens cached in the database), rate-limits, retries and audits
every call; ``parsers`` turn payloads into rows of the live tables; ``batching`` cuts IMEI lists and
time windows to what each method allows. Importing this package does not import Airflow: the hook is
loaded lazily so the parsers and helpers stay usable (and fast to import) without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracksolid_hook.errors import (
    TracksolidApiError,
    TracksolidConfigError,
    TracksolidError,
    TracksolidResponseError,
    TracksolidRetryExhausted,
)

if TYPE_CHECKING:
    from tracksolid_hook.hook import TracksolidHook

__all__ = [
    "TracksolidApiError",
    "TracksolidConfigError",
    "TracksolidError",
    "TracksolidHook",
    "TracksolidResponseError",
    "TracksolidRetryExhausted",
]


def __getattr__(name: str) -> Any:
    if name == "TracksolidHook":
        from tracksolid_hook.hook import TracksolidHook

        return TracksolidHook
    raise AttributeError(f"module 'tracksolid_hook' has no attribute {name!r}")
