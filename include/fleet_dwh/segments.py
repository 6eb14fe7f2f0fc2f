"""The silver rules of ALGORITHMS.md for one device, on numpy arrays: cleaning, state segments, trips, overspeed.

Pure functions, no database: :func:`build_device_day` takes one device's fixes (sorted by time, unique times)
and its thresholds, and returns what silver stores for one local day. Times are integer microseconds
(PostgreSQL's binary ``timestamptz``: µs since 2000-01-01 UTC), so every duration is exact.

The rules, in the order they apply:

1. **Cleaning** — drop out-of-range and (0,0) coordinates, fixes later than now + ``future_tolerance_s``, and
   spikes: a fix whose jump from the previous *and* to the next valid fix both imply > ``max_jump_kmh`` (a
   lone outlier goes, the good fixes around it stay). Duplicate times cannot exist (bronze's key).
2. **Point state** — ``parked`` when ACC is off; ``moving`` when faster than ``moving_speed_kmh``; ``idle``
   when ACC is on; otherwise (no ACC data, stationary) ``parked``.
3. **Intervals** — each fix holds its state until the next fix; a gap ≥ ``offline_gap_s`` (or no next fix) is
   ``offline``, and so is the time before the first fix. Clipped to the day they tile it exactly.
   Distance (haversine to the next fix) is credited to the day of the interval's first fix, never across a gap.
4. **Segments** — runs of equal state; parked / idle runs shorter than ``min_stop_s`` / ``min_idle_s`` take the
   state of the nearest kept run before them (else after; never ``offline``); runs of equal state again.
5. **Trips** — runs of moving / stationary fixes (a gap ≥ ``trip_gap_s`` also starts a run). A trip starts at
   a moving run that follows nothing, a gap, or a *breaking* stationary run (ACC off, a gap, or lasting
   ≥ ``min_stop_s``). The stationary tail is trimmed: the trip ends where its last moving interval ends (at the
   next fix, or at the last moving fix itself when a gap ≥ ``trip_gap_s`` follows). Kept when it has ≥ 2 fixes,
   lasts ≥ ``min_trip_s``, reaches ``min_trip_max_speed_kmh`` or ``min_trip_km``, starts in the day and ended
   ≥ ``trip_finalise_after_s`` ago (no fragments of trips still in progress).
6. **Overspeed** — ≥ 2 consecutive fixes over ``overspeed_kmh``, by the day of the first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARKED, IDLE, MOVING, OFFLINE = 0, 1, 2, 3
STATE_NAMES = ("parked", "idle", "moving", "offline")
US = 1_000_000
NO_TIME = np.iinfo(np.int64).max  # "no next fix": later than any real time
EARTH_RADIUS_KM = 6371.0088       # mean Earth radius, as silver.haversine_km


@dataclass(frozen=True)
class Thresholds:
    """One vehicle's thresholds (ALGORITHMS.md defaults live in dwh_control.settings); durations in µs."""

    moving_kmh: float
    offline_gap_us: int
    min_stop_us: int
    min_idle_us: int
    trip_gap_us: int
    min_trip_us: int
    min_trip_speed_kmh: float
    min_trip_km: float
    finalise_after_us: int
    overspeed_kmh: float
    max_jump_kmh: float


@dataclass
class DeviceFixes:
    """One device's fixes around a day, sorted by time; ``acc`` is 1 on, 0 off, -1 unknown; NaN odometer = none."""

    t: np.ndarray        # int64 µs
    lat: np.ndarray      # float64
    lng: np.ndarray
    speed: np.ndarray    # km/h, NULL read as 0
    acc: np.ndarray      # int16
    odometer: np.ndarray  # float64, NaN when not reported


def haversine_km(lat1, lng1, lat2, lng2):
    """Great-circle distance in km (same formula and radius as ``silver.haversine_km``)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin(np.radians(lat2 - lat1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def _jump_kmh(lat_a, lng_a, lat_b, lng_b, cos_lat, dt_us):
    """Implied speed of a jump, equirectangular distance (plenty for a 250 km/h test, and cheap)."""
    km = 111.195 * np.sqrt((lat_b - lat_a) ** 2 + ((lng_b - lng_a) * cos_lat) ** 2)
    return km * 3600 / (dt_us / US)


def clean(fx: DeviceFixes, th: Thresholds, latest_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the kept fixes, and a reason code per fix (0 kept, 1 coordinates, 2 future, 3 spike)."""
    reason = np.zeros(len(fx.t), dtype=np.int8)
    coords_ok = ((fx.lat >= -90) & (fx.lat <= 90) & (fx.lng >= -180) & (fx.lng <= 180)
                 & ~((fx.lat == 0) & (fx.lng == 0)))
    reason[~coords_ok] = 1
    reason[coords_ok & (fx.t > latest_us)] = 2
    valid = np.flatnonzero(reason == 0)
    if len(valid) >= 2:
        lat, lng, t = fx.lat[valid], fx.lng[valid], fx.t[valid]
        cos_lat = np.cos(np.radians(lat))
        step = _jump_kmh(lat[:-1], lng[:-1], lat[1:], lng[1:], cos_lat[1:], np.diff(t))  # into fix i+1
        k_in = np.concatenate(([np.nan], step))
        # out of fix i uses fix i's own latitude for the longitude scale, as the SQL rule did
        k_out = np.concatenate((_jump_kmh(lat[:-1], lng[:-1], lat[1:], lng[1:], cos_lat[:-1], np.diff(t)), [np.nan]))
        a = np.where(np.isnan(k_in), k_out, k_in) > th.max_jump_kmh
        b = np.where(np.isnan(k_out), k_in, k_out) > th.max_jump_kmh
        reason[valid[a & b]] = 3
    return np.flatnonzero(reason == 0), reason


def point_states(speed: np.ndarray, acc: np.ndarray, moving_kmh: float) -> np.ndarray:
    return np.where(acc == 0, PARKED, np.where(speed > moving_kmh, MOVING, np.where(acc == 1, IDLE, PARKED)))


def _run_starts(values: np.ndarray, extra_breaks: np.ndarray | None = None) -> np.ndarray:
    """Index of the first element of each run of equal values (and of every forced break)."""
    brk = np.empty(len(values), dtype=bool)
    if len(values):
        brk[0] = True
        brk[1:] = values[1:] != values[:-1]
        if extra_breaks is not None:
            brk |= extra_breaks
    return np.flatnonzero(brk)


def _reduce_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Max per run ignoring NaN (NaN when the run has no value), runs given by their start indices."""
    filled = np.where(np.isnan(values), -np.inf, values)
    out = np.maximum.reduceat(filled, starts) if len(starts) else np.empty(0)
    return np.where(out == -np.inf, np.nan, out)


def _shift_left(values: np.ndarray, fill) -> np.ndarray:
    """Each element's successor (``fill`` after the last): the "next fix" columns."""
    return np.concatenate((values[1:], np.array([fill], dtype=values.dtype)))


@dataclass
class Kept:
    """The cleaned fixes of one device with their neighbours (the silver fixes, plus context around the day)."""

    t: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    speed: np.ndarray
    acc: np.ndarray
    odometer: np.ndarray
    state: np.ndarray
    next_t: np.ndarray     # NO_TIME for the last fix
    next_lat: np.ndarray   # NaN for the last fix
    next_lng: np.ndarray
    km_to_next: np.ndarray  # 0 for the last fix

    @classmethod
    def of(cls, fx: DeviceFixes, idx: np.ndarray, th: Thresholds) -> Kept:
        t, lat, lng = fx.t[idx], fx.lat[idx], fx.lng[idx]
        next_lat, next_lng = _shift_left(lat, np.nan), _shift_left(lng, np.nan)
        km = np.nan_to_num(haversine_km(lat, lng, next_lat, next_lng), nan=0.0)
        speed, acc = fx.speed[idx], fx.acc[idx]
        return cls(t, lat, lng, speed, acc, fx.odometer[idx], point_states(speed, acc, th.moving_kmh),
                   _shift_left(t, NO_TIME), next_lat, next_lng, km)


def segments(k: Kept, th: Thresholds, day_start: int, day_end: int) -> dict[str, np.ndarray]:
    """State segments tiling [day_start, day_end) exactly (rules 3 and 4)."""
    last = k.next_t == NO_TIME
    gap = last | (k.next_t - k.t >= th.offline_gap_us)
    sel = np.flatnonzero((k.t < day_end) & (k.next_t > day_start))
    s0 = np.maximum(k.t[sel], day_start)
    s1 = np.minimum(k.next_t[sel], day_end)
    state = np.where(gap[sel], OFFLINE, k.state[sel])
    in_day = k.t[sel] >= day_start
    speed = np.where(in_day, k.speed[sel], np.nan)
    lat, lng = k.lat[sel], k.lng[sel]
    end_lat = np.where(last[sel], lat, k.next_lat[sel])
    end_lng = np.where(last[sel], lng, k.next_lng[sel])
    km = np.where(~gap[sel] & in_day, k.km_to_next[sel], 0.0)
    first_t = k.t[0] if len(k.t) else NO_TIME
    if first_t > day_start:  # offline from midnight until the first fix (or all day)
        s0 = np.concatenate(([day_start], s0))
        s1 = np.concatenate(([min(first_t, day_end)], s1))
        state = np.concatenate(([OFFLINE], state))
        in_day = np.concatenate(([False], in_day))
        speed, lat, lng, end_lat, end_lng = (np.concatenate(([np.nan], a)) for a in (speed, lat, lng, end_lat, end_lng))
        km = np.concatenate(([0.0], km))

    # Runs of equal state.
    rs = _run_starts(state)
    re = np.concatenate((rs[1:], [len(state)])) - 1
    run = {"state": state[rs], "s0": s0[rs], "s1": s1[re],
           "fixes": np.add.reduceat(in_day.astype(np.int64), rs), "km": np.add.reduceat(km, rs),
           "max_speed": _reduce_max(speed, rs), "start_lat": lat[rs], "start_lng": lng[rs],
           "end_lat": end_lat[re], "end_lng": end_lng[re]}

    # Short parked / idle runs take the state of the nearest kept run before them, else after (never offline).
    dur = run["s1"] - run["s0"]
    rstate = run["state"]
    kept = ((rstate == MOVING) | (rstate == OFFLINE) | ((rstate == PARKED) & (dur >= th.min_stop_us))
            | ((rstate == IDLE) & (dur >= th.min_idle_us)))
    n = len(rstate)
    prev_kept = np.maximum.accumulate(np.where(kept, np.arange(n), -1))
    next_kept = np.minimum.accumulate(np.where(kept, np.arange(n), n)[::-1])[::-1]
    prev_state = np.where(prev_kept >= 0, rstate[np.maximum(prev_kept, 0)], -1)
    next_state = np.where(next_kept < n, rstate[np.minimum(next_kept, n - 1)], -1)
    new_state = np.where(kept, rstate,
                         np.where((prev_state >= 0) & (prev_state != OFFLINE), prev_state,
                                  np.where((next_state >= 0) & (next_state != OFFLINE), next_state, rstate)))

    ss = _run_starts(new_state)
    se = np.concatenate((ss[1:], [n])) - 1
    return {"state": new_state[ss], "started_at": run["s0"][ss], "ended_at": run["s1"][se],
            "fix_count": np.add.reduceat(run["fixes"], ss), "distance_km": np.add.reduceat(run["km"], ss),
            "max_speed_kmh": _reduce_max(run["max_speed"], ss),
            "start_lat": run["start_lat"][ss], "start_lng": run["start_lng"][ss],
            "end_lat": run["end_lat"][se], "end_lng": run["end_lng"][se]}


def trips(k: Kept, th: Thresholds, day_start: int, day_end: int, now_us: int) -> dict[str, np.ndarray]:
    """Trips starting in the day (rule 5)."""
    empty = {name: np.empty(0) for name in ("start_time", "end_time", "distance_km", "max_speed_kmh",
                                            "fix_count", "start_lat", "start_lng", "end_lat", "end_lng")}
    if len(k.t) == 0:
        return empty
    moving = k.state == MOVING
    gap_before = np.concatenate(([True], np.diff(k.t) >= th.trip_gap_us))
    rs = _run_starts(moving, gap_before)
    re = np.concatenate((rs[1:], [len(k.t)])) - 1
    r_moving, r_gap_first = moving[rs], gap_before[rs]
    r_t_first, r_t_last, r_t_next = k.t[rs], k.t[re], k.next_t[re]
    r_acc_off = np.logical_or.reduceat(k.acc == 0, rs)
    # A stationary run breaks a trip when ACC went off, it began after a gap, or it lasted >= min_stop
    # (until the next fix; a run with no next fix lasts for ever).
    breaking = ~r_moving & (r_acc_off | r_gap_first | (r_t_next == NO_TIME)
                            | (r_t_next - r_t_first >= th.min_stop_us))
    new_trip = r_moving & (r_gap_first | np.concatenate(([True], breaking[:-1])))
    trip_no = np.cumsum(new_trip)
    starts = np.flatnonzero(new_trip)
    if len(starts) == 0:
        return empty
    # The last moving run of each trip: trip ids are ascending, so the last moving run per id is a max.
    last_moving = np.zeros(len(starts), dtype=np.int64)
    moving_runs = np.flatnonzero(r_moving & (trip_no > 0))
    np.maximum.at(last_moving, trip_no[moving_runs] - 1, moving_runs)

    runs_on = (r_t_next != NO_TIME) & (r_t_next - r_t_last < th.trip_gap_us)  # the vehicle was seen stopped
    r_fixes = np.add.reduceat(np.ones(len(k.t), dtype=np.int64), rs)
    r_km = np.add.reduceat(k.km_to_next, rs)
    r_max_speed = np.maximum.reduceat(k.speed, rs)
    # Sums over runs [first .. last moving] via cumulative sums over runs.
    c_fixes = np.concatenate(([0], np.cumsum(r_fixes)))
    c_km = np.concatenate(([0.0], np.cumsum(r_km)))
    lm = last_moving
    on = runs_on[lm]
    start_time = r_t_first[starts]
    end_time = np.where(on, r_t_next[lm], r_t_last[lm])
    fix_count = c_fixes[lm + 1] - c_fixes[starts]
    distance = (c_km[lm + 1] - c_km[starts]) - np.where(on, 0.0, k.km_to_next[re[lm]])
    max_speed = np.array([r_max_speed[a:b + 1].max() for a, b in zip(starts, lm, strict=True)])
    end_lat = np.where(on, k.next_lat[re[lm]], k.lat[re[lm]])
    end_lng = np.where(on, k.next_lng[re[lm]], k.lng[re[lm]])
    duration = end_time - start_time
    keep = ((start_time >= day_start) & (start_time < day_end) & (fix_count >= 2) & (duration >= th.min_trip_us)
            & ((max_speed >= th.min_trip_speed_kmh) | (distance >= th.min_trip_km))
            & (end_time <= now_us - th.finalise_after_us))
    return {"start_time": start_time[keep], "end_time": end_time[keep], "distance_km": distance[keep],
            "max_speed_kmh": max_speed[keep], "fix_count": fix_count[keep],
            "start_lat": k.lat[rs[starts]][keep], "start_lng": k.lng[rs[starts]][keep],
            "end_lat": end_lat[keep], "end_lng": end_lng[keep]}


def overspeed(k: Kept, th: Thresholds, day_start: int, day_end: int) -> dict[str, np.ndarray]:
    """Runs of >= 2 consecutive fixes over the limit, by the day of their first fix (rule 6)."""
    over = k.speed > th.overspeed_kmh
    if not over.any():
        return {"started_at": np.empty(0, np.int64), "ended_at": np.empty(0, np.int64),
                "fix_count": np.empty(0, np.int64), "max_speed_kmh": np.empty(0)}
    rs = _run_starts(over)
    re = np.concatenate((rs[1:], [len(over)])) - 1
    count = re - rs + 1
    keep = over[rs] & (count >= 2) & (k.t[rs] >= day_start) & (k.t[rs] < day_end)
    return {"started_at": k.t[rs][keep], "ended_at": k.t[re][keep], "fix_count": count[keep],
            "max_speed_kmh": np.maximum.reduceat(k.speed, rs)[keep]}


@dataclass
class DeviceDay:
    segments: dict[str, np.ndarray]
    trips: dict[str, np.ndarray]
    overspeed: dict[str, np.ndarray]
    rejected_t: np.ndarray       # in-day fixes that cleaning dropped, and why (reason codes of :func:`clean`)
    rejected_reason: np.ndarray
    fixes_raw: int
    fixes_kept: int
    odometer_start: float | None
    odometer_end: float | None
    odometer_monotonic: bool | None


def build_device_day(fx: DeviceFixes, th: Thresholds, day_start: int, day_end: int, now_us: int,
                     future_tolerance_us: int) -> DeviceDay:
    """Everything silver keeps for one device and one local day [day_start, day_end)."""
    idx, reason = clean(fx, th, now_us + future_tolerance_us)
    k = Kept.of(fx, idx, th)
    raw_in_day = (fx.t >= day_start) & (fx.t < day_end)
    rejected = np.flatnonzero(raw_in_day & (reason > 0))
    in_day = (k.t >= day_start) & (k.t < day_end)
    odo = k.odometer[in_day]
    odo = odo[~np.isnan(odo)]
    return DeviceDay(
        segments=segments(k, th, day_start, day_end), trips=trips(k, th, day_start, day_end, now_us),
        overspeed=overspeed(k, th, day_start, day_end),
        rejected_t=fx.t[rejected], rejected_reason=reason[rejected],
        fixes_raw=int(raw_in_day.sum()), fixes_kept=int(in_day.sum()),
        odometer_start=float(odo[0]) if len(odo) else None, odometer_end=float(odo[-1]) if len(odo) else None,
        odometer_monotonic=bool((np.diff(odo) >= 0).all()) if len(odo) else None)
