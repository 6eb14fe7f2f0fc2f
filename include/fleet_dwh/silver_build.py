"""Rebuild silver for one local day inside the caller's transaction: read → :mod:`fleet_dwh.segments` → write.

Read: one binary ``COPY`` of every bronze fix around the day (``silver_fixes_export.sql``), whose fixed row
layout maps straight onto numpy arrays — no per-row Python. Compute: the silver rules per device. Write: the
day's rows are deleted and written again with ``COPY`` (segments, trips, overspeed events, device days,
rejected fixes), then stops, idle spells and geofence visits are derived from the segments in SQL.
Memory is bounded by reading large fleets in passes of :func:`devices_per_pass` devices.
"""

from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from fleet_db.settings import read_sql
from fleet_dwh import segments as seg

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # binary timestamptz = µs since this instant

# One exported row: field count, then (length, value) per field; big-endian, as COPY BINARY sends it.
_EXPORT_ROW = np.dtype([
    ("nfields", ">i2"),
    ("l_hash", ">i4"), ("imei_hash", ">i8"), ("l_t", ">i4"), ("t", ">i8"),
    ("l_lat", ">i4"), ("lat", ">f8"), ("l_lng", ">i4"), ("lng", ">f8"), ("l_speed", ">i4"), ("speed", ">f8"),
    ("l_acc", ">i4"), ("acc", ">i2"), ("l_odo", ">i4"), ("odometer", ">f8"),
])
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00"
_REASONS = {1: "coordinates", 2: "future", 3: "spike"}


def to_us(moment: datetime) -> int:
    delta = moment - PG_EPOCH
    return (delta.days * 86400 + delta.seconds) * seg.US + delta.microseconds


def from_us(us: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=int(us))


def seconds_to_us(value) -> int:
    """A threshold in seconds (numeric) as exact microseconds."""
    return int(Decimal(value) * seg.US)


@dataclass
class Device:
    imei: str
    imei_hash: int
    thresholds: seg.Thresholds
    overspeed_limit: str  # as configured (numeric text), for silver.overspeed_events.limit_kmh


def read_devices(cur, day_start: datetime, day_end: datetime) -> list[Device]:
    cur.execute(read_sql("dwh", "silver_day_devices.sql"), {"day_start": day_start, "day_end": day_end})
    devices = []
    for row in cur.fetchall():
        imei, imei_hash, *values = row
        if any(v is None for v in values):
            raise ValueError(f"silver: a threshold is missing for {imei}: add it to dwh_control.settings")
        (moving, offline_gap, min_stop, min_idle, trip_gap, min_trip, min_trip_speed, min_trip_km, finalise,
         overspeed, max_jump) = values
        devices.append(Device(imei, imei_hash, seg.Thresholds(
            moving_kmh=moving, offline_gap_us=seconds_to_us(offline_gap), min_stop_us=seconds_to_us(min_stop),
            min_idle_us=seconds_to_us(min_idle), trip_gap_us=seconds_to_us(trip_gap),
            min_trip_us=seconds_to_us(min_trip), min_trip_speed_kmh=min_trip_speed, min_trip_km=min_trip_km,
            finalise_after_us=seconds_to_us(finalise), overspeed_kmh=float(overspeed), max_jump_kmh=max_jump),
            str(overspeed)))
    hashes = {d.imei_hash for d in devices}
    if len(hashes) != len(devices):  # 64-bit hashes of a few thousand IMEIs: never seen, but never silent
        raise RuntimeError("silver: two IMEIs share a 64-bit hash; the fix export cannot tell them apart")
    return devices


def read_fixes(cur, start: datetime, end: datetime, imei_hashes: list[int] | None = None) -> dict[str, np.ndarray]:
    """Bronze fixes in [start, end) — of every device, or of the given ones — as contiguous column arrays,
    sorted by (device hash, time)."""
    buf = io.BytesIO()
    export = cur.mogrify(read_sql("dwh", "silver_fixes_export.sql"),
                         {"from": start, "to": end, "imei_hashes": imei_hashes}).decode()
    cur.copy_expert(export, buf, size=1 << 20)
    data = buf.getbuffer()
    if bytes(data[:11]) != _COPY_HEADER:
        raise RuntimeError("silver: the fix export is not in PostgreSQL's binary COPY format")
    header_len = 19 + int.from_bytes(data[15:19], "big")  # signature, flags, header-extension length
    rows = np.frombuffer(data, dtype=_EXPORT_ROW, offset=header_len,
                         count=(len(data) - header_len - 2) // _EXPORT_ROW.itemsize)
    expected = {"nfields": 7, "l_hash": 8, "l_t": 8, "l_lat": 8, "l_lng": 8, "l_speed": 8, "l_acc": 2, "l_odo": 8}
    for name, value in expected.items():
        if len(rows) and not (rows[name] == value).all():
            raise RuntimeError(f"silver: unexpected field layout in the fix export ({name})")
    imei_hash, t = rows["imei_hash"].astype(np.int64), rows["t"].astype(np.int64)
    order = np.lexsort((t, imei_hash))
    columns = {"imei_hash": imei_hash[order], "t": t[order]}
    for name in ("lat", "lng", "speed", "acc", "odometer"):
        column = rows[name]
        columns[name] = column.astype(column.dtype.newbyteorder("="))[order]
    del rows, data
    return columns


def _csv(rows) -> io.StringIO:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    out.seek(0)
    return out


def _f(x) -> str:
    """A float for COPY: shortest exact text, NaN → NULL (empty field)."""
    x = float(x)
    return "" if x != x else repr(x)


def _t(us) -> str:
    return from_us(us).isoformat()


def _secs(us) -> str:
    """An exact duration in seconds from microseconds, with the 6 decimals ``extract(epoch …)`` gives."""
    us = int(us)
    return f"{us // seg.US}.{us % seg.US:06d}"


@dataclass
class DayRows:
    segments: list
    trips: list
    overspeed: list
    device_days: list
    rejected: list
    fixes_kept: int = 0


def compute_day(devices: list[Device], fixes: dict[str, np.ndarray], day: str, day_start: int, day_end: int,
                now_us: int, future_tolerance_us: int, out: DayRows | None = None) -> DayRows:
    """The silver rows of one day for the given devices (pure: arrays in, rows out), added to ``out``."""
    out = out if out is not None else DayRows([], [], [], [], [])
    hashes = fixes["imei_hash"]
    lows = np.searchsorted(hashes, [d.imei_hash for d in devices], "left")
    highs = np.searchsorted(hashes, [d.imei_hash for d in devices], "right")
    for dev, lo, hi in zip(devices, lows, highs, strict=True):
        fx = seg.DeviceFixes(**{name: fixes[name][lo:hi] for name in ("t", "lat", "lng", "speed", "acc", "odometer")})
        dd = seg.build_device_day(fx, dev.thresholds, day_start, day_end, now_us, future_tolerance_us)
        imei = dev.imei
        s = dd.segments
        for i in range(len(s["state"])):
            out.segments.append((imei, _t(s["started_at"][i]), _t(s["ended_at"][i]), day,
                                 seg.STATE_NAMES[s["state"][i]], _secs(s["ended_at"][i] - s["started_at"][i]),
                                 int(s["fix_count"][i]), _f(s["distance_km"][i]), _f(s["max_speed_kmh"][i]),
                                 _f(s["start_lat"][i]), _f(s["start_lng"][i]), _f(s["end_lat"][i]),
                                 _f(s["end_lng"][i])))
        tr = dd.trips
        for i in range(len(tr["start_time"])):
            duration_us = int(tr["end_time"][i] - tr["start_time"][i])
            out.trips.append((imei, _t(tr["start_time"][i]), _t(tr["end_time"][i]), day, _secs(duration_us),
                              _f(tr["distance_km"][i]), _f(tr["max_speed_kmh"][i]),
                              _f(tr["distance_km"][i] * 3600 / (duration_us / seg.US)), int(tr["fix_count"][i]),
                              _f(tr["start_lat"][i]), _f(tr["start_lng"][i]), _f(tr["end_lat"][i]),
                              _f(tr["end_lng"][i])))
        ov = dd.overspeed
        for i in range(len(ov["started_at"])):
            out.overspeed.append((imei, _t(ov["started_at"][i]), _t(ov["ended_at"][i]), day, int(ov["fix_count"][i]),
                                  _f(ov["max_speed_kmh"][i]), dev.overspeed_limit))
        out.rejected.extend((imei, _t(t), day, _REASONS[int(r)]) for t, r in zip(dd.rejected_t, dd.rejected_reason,
                                                                               strict=True))
        out.device_days.append((imei, day, dd.fixes_raw, dd.fixes_kept,
                                "" if dd.odometer_start is None else repr(dd.odometer_start),
                                "" if dd.odometer_end is None else repr(dd.odometer_end),
                                "" if dd.odometer_monotonic is None else str(dd.odometer_monotonic).lower()))
        out.fixes_kept += dd.fixes_kept
    return out


_COPY_TARGETS = {
    "segments": "silver.segments (imei, started_at, ended_at, local_day, state, duration_s, fix_count, distance_km,"
                " max_speed_kmh, start_lat, start_lng, end_lat, end_lng)",
    "trips": "silver.trips (imei, start_time, end_time, local_day, duration_s, distance_km, max_speed_kmh,"
             " avg_speed_kmh, fix_count, start_lat, start_lng, end_lat, end_lng)",
    "overspeed": "silver.overspeed_events (imei, started_at, ended_at, local_day, fix_count, max_speed_kmh,"
                 " limit_kmh)",
    "device_days": "silver.device_days (imei, local_day, fixes_raw, fixes_kept, odometer_start_km,"
                   " odometer_end_km, odometer_monotonic)",
    "rejected": "silver.rejected_fixes (imei, gps_time, local_day, reason)",
}


def devices_per_pass() -> int:
    """Devices whose fixes are held in memory at once (``FLEET_SILVER_DEVICES_PER_PASS``, default 1,000).

    A day of one device at one fix / 10 s takes ≈ 1.4 MB while it is rebuilt; larger fleets are read in several
    passes, each reading the day's rows again but keeping only its devices' fixes.
    """
    value = int(os.environ.get("FLEET_SILVER_DEVICES_PER_PASS", "1000"))
    if value < 1:
        raise ValueError("FLEET_SILVER_DEVICES_PER_PASS must be at least 1")
    return value


def rebuild_silver_day(cur, day, per_pass: int | None = None) -> dict:
    """Rebuild every silver table for one local day in the cursor's open transaction (idempotent)."""
    timings = {"read_s": 0.0, "compute_s": 0.0}
    t0 = time.perf_counter()
    cur.execute(read_sql("dwh", "silver_begin_day.sql"), {"day": day})
    cur.execute(read_sql("dwh", "silver_day_context.sql"), {"day": day})
    day_start, day_end, context, future_tolerance_s, tx_now, built_at = cur.fetchone()
    devices = read_devices(cur, day_start, day_end)
    timings["devices_s"] = time.perf_counter() - t0

    per_pass = per_pass or devices_per_pass()
    rows = DayRows([], [], [], [], [])
    for first in range(0, max(len(devices), 1), per_pass):
        group = devices[first:first + per_pass]
        t1 = time.perf_counter()
        fixes = read_fixes(cur, day_start - context, day_end + context,
                           [d.imei_hash for d in group] if len(devices) > per_pass else None)
        t2 = time.perf_counter()
        compute_day(group, fixes, day.isoformat(), to_us(day_start), to_us(day_end), to_us(tx_now),
                    int(future_tolerance_s * seg.US), out=rows)
        del fixes
        timings["read_s"] += t2 - t1
        timings["compute_s"] += time.perf_counter() - t2

    t3 = time.perf_counter()
    cur.execute(read_sql("dwh", "silver_clear_day.sql"), {"day": day})
    for name, target in _COPY_TARGETS.items():
        cur.copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT csv)", _csv(getattr(rows, name)))
    cur.execute(read_sql("dwh", "silver_stops_and_idle.sql"), {"day": day})
    cur.execute(read_sql("dwh", "silver_geofence_visits.sql"), {"day": day})
    cur.execute(read_sql("dwh", "silver_day_built.sql"), {
        "day": day, "built_at": built_at, "devices": len(devices), "fixes_kept": rows.fixes_kept,
        "segments": len(rows.segments), "trips": len(rows.trips)})
    timings["write_s"] = time.perf_counter() - t3
    return {"day": day.isoformat(), "devices": len(devices), "fixes": rows.fixes_kept,
            "segments": len(rows.segments), "trips": len(rows.trips),
            "timings": {k: round(v, 3) for k, v in timings.items()}}
