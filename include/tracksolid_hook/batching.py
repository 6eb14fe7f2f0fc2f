"""Batching and window helpers: IMEI chunks, windows no longer than a method allows, paging offsets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

T = TypeVar("T")


def chunk(seq: Iterable[T], size: int) -> list[list[T]]:
    """Split ``seq`` into consecutive lists of at most ``size`` items (order kept, no empty chunk)."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    items = list(seq)
    return [items[i : i + size] for i in range(0, len(items), size)]


def split_window(begin: datetime, end: datetime, max_span: timedelta) -> list[tuple[datetime, datetime]]:
    """Cut ``[begin, end]`` into consecutive windows no longer than ``max_span``.

    Windows touch (one's end is the next one's begin) so nothing falls between them; an empty or
    reversed window gives ``[]``. Both bounds must be aware datetimes (the API speaks UTC).
    """
    if begin.tzinfo is None or end.tzinfo is None:
        raise ValueError("split_window needs aware datetimes (UTC)")
    if max_span <= timedelta(0):
        raise ValueError("max_span must be positive")
    windows = []
    start = begin
    while start < end:
        stop = min(start + max_span, end)
        windows.append((start, stop))
        start = stop
    return windows


def unique_imeis(imeis: Iterable[str]) -> list[str]:
    """IMEIs as clean strings, duplicates and blanks removed, first-seen order kept."""
    seen: dict[str, None] = {}
    for imei in imeis:
        text = str(imei).strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)


def dedupe(rows: Sequence[dict], key: Sequence[str]) -> list[dict]:
    """Keep the last row per ``key`` (pages may overlap; one upsert must never see a key twice)."""
    by_key: dict[tuple, dict] = {}
    for row in rows:
        by_key[tuple(row.get(k) for k in key)] = row
    return list(by_key.values())
