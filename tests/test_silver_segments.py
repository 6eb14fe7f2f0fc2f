"""The silver rules on hand-made arrays (fleet_dwh.segments): every expected value is worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fleet_dwh import segments as seg

S = seg.US                       # one second in µs
DAY_START, DAY_END = 0, 86400 * S
NOW = 10 * 86400 * S             # days after the test day: every trip is final
TH = seg.Thresholds(moving_kmh=3, offline_gap_us=1800 * S, min_stop_us=300 * S, min_idle_us=300 * S,
                    trip_gap_us=300 * S, min_trip_us=60 * S, min_trip_speed_kmh=6, min_trip_km=1,
                    finalise_after_us=7200 * S, overspeed_kmh=80, max_jump_kmh=250)


def fixes(rows):
    """rows: (seconds, lat, lng, speed, acc) with acc True/False/None."""
    t, lat, lng, speed, acc = zip(*rows, strict=True)
    return seg.DeviceFixes(t=np.array(t, dtype=np.int64) * S, lat=np.array(lat, float), lng=np.array(lng, float),
                           speed=np.array(speed, float),
                           acc=np.array([-1 if a is None else int(a) for a in acc], dtype=np.int16),
                           odometer=np.full(len(t), np.nan))


def day(rows, th=TH, now=NOW):
    return seg.build_device_day(fixes(rows), th, DAY_START, DAY_END, now, 86400 * S)


def states(dd):
    s = dd.segments
    return [(seg.STATE_NAMES[st], int(a // S), int(b // S)) for st, a, b in
            zip(s["state"], s["started_at"], s["ended_at"], strict=True)]


def test_cleaning_drops_bad_coordinates_future_fixes_and_lone_spikes_only():
    rows = [(1000, -1.0, 36.0, 0, False), (1010, 0.0, 0.0, 0, False), (1020, 95.0, 36.0, 0, False),
            (1030, -1.0, 36.0, 0, False),
            (1040, 1.0, 36.0, 0, False),      # 222 km away in 10 s, and back: a spike
            (1050, -1.0, 36.0, 0, False),
            (1060, -1.0, 36.001, 0, False),
            (3 * 86400, -1.0, 36.0, 0, False)]  # 3 days ahead of "now" = day 1: beyond the 1-day tolerance
    dd = day(rows, now=86400 * S)
    # The future fix lies outside the day, so only in-day rejections are listed: (0,0), range, spike.
    assert [(int(t // S), int(r)) for t, r in zip(dd.rejected_t, dd.rejected_reason, strict=True)] == \
        [(1010, 1), (1020, 1), (1040, 3)]
    assert dd.fixes_raw == 7 and dd.fixes_kept == 4
    idx, reason = seg.clean(fixes(rows), TH, 86400 * S)
    assert list(reason) == [0, 1, 1, 0, 3, 0, 0, 2] and list(idx) == [0, 3, 5, 6]


def test_a_first_fix_far_from_the_rest_is_a_spike_but_a_lone_fix_is_kept():
    idx, reason = seg.clean(fixes([(0, 5.0, 36.0, 0, None), (10, -1.0, 36.0, 0, None),
                                   (20, -1.0, 36.0, 0, None)]), TH, NOW)
    assert list(reason) == [3, 0, 0]
    idx, reason = seg.clean(fixes([(0, 5.0, 36.0, 0, None)]), TH, NOW)
    assert list(reason) == [0]


def test_segments_tile_the_day_with_offline_before_the_first_fix_and_across_gaps():
    rows = [(3600, -1.0, 36.0, 0, False),        # parked 01:00 .. 01:16:40
            (4600, -1.0, 36.0, 0, True),         # idle .. 01:26:40
            (5200, -1.0, 36.0, 40, True),        # moving .. 01:36:40
            (5800, -1.0, 36.0, 40, True),        # then 4000 s without a fix (>= 1800 s): offline
            (9800, -1.0, 36.0, 0, False)]        # the last fix: offline until midnight
    dd = day(rows)
    assert states(dd) == [("offline", 0, 3600), ("parked", 3600, 4600), ("idle", 4600, 5200),
                          ("moving", 5200, 5800), ("offline", 5800, 86400)]
    assert sum(b - a for _, a, b in states(dd)) == 86400


def test_short_stops_merge_into_the_segment_before_them():
    rows = [(0, -1.0, 36.0, 30, True), (600, -1.0, 36.01, 0, True),   # idle for 120 s only
            (720, -1.0, 36.02, 30, True), (1200, -1.0, 36.03, 0, False), (1500, -1.0, 36.03, 0, False),
            (1600, -1.0, 36.03, 0, False)]
    # The 120 s idle spell became part of the drive; the 400 s parked spell is a stop.
    assert states(day(rows)) == [("moving", 0, 1200), ("parked", 1200, 1600), ("offline", 1600, 86400)]
    rows[4] = (1250, -1.0, 36.03, 0, False)  # parked for 50 s + 350 s in one run: still 400 s
    assert states(day(rows)) == [("moving", 0, 1200), ("parked", 1200, 1600), ("offline", 1600, 86400)]
    rows = rows[:4] + [(1300, -1.0, 36.03, 0, False)]  # parked for 100 s only: part of the drive
    assert states(day(rows)) == [("moving", 0, 1300), ("offline", 1300, 86400)]


def test_a_trip_ends_at_the_first_stationary_fix_and_short_hops_are_not_trips():
    rows = [(1000, -1.0, 36.0, 0, False)]
    rows += [(1000 + 10 * i, -1.0, 36.0 + 0.0005 * i, 50, True) for i in range(1, 61)]  # 600 s of driving
    rows += [(1610, -1.0, 36.03, 0, True), (1700, -1.0, 36.03, 0, False), (2400, -1.0, 36.03, 0, False)]
    rows += [(2410, -1.0, 36.03, 10, True), (2420, -1.0, 36.0301, 10, True), (2430, -1.0, 36.0301, 0, False)]
    dd = day(rows)
    trips = dd.trips
    assert [int(x // S) for x in trips["start_time"]] == [1010] and [int(x // S) for x in trips["end_time"]] == [1610]
    expected_km = sum(seg.haversine_km(-1.0, 36.0 + 0.0005 * i, -1.0, 36.0 + 0.0005 * (i + 1)) for i in range(1, 60))
    expected_km += seg.haversine_km(-1.0, 36.03, -1.0, 36.03)
    assert trips["distance_km"][0] == pytest.approx(expected_km, rel=1e-12)
    assert trips["fix_count"][0] == 60 and trips["max_speed_kmh"][0] == 50
    # The 20 s hop at 10 km/h: 2 fixes, but shorter than min_trip_s: not a trip.


def test_a_trip_still_in_progress_is_not_final():
    rows = [(1000 + 10 * i, -1.0, 36.0 + 0.001 * i, 40, True) for i in range(30)]
    assert len(day(rows, now=1000 * S + 3600 * S).trips["start_time"]) == 0
    assert len(day(rows).trips["start_time"]) == 1


def test_overspeed_needs_two_consecutive_fixes():
    speeds = [70, 85, 70, 90, 95, 81, 60, 100]
    dd = day([(100 + 10 * i, -1.0, 36.0 + 0.0001 * i, v, True) for i, v in enumerate(speeds)])
    o = dd.overspeed
    assert [(int(a // S), int(b // S), int(n), float(m)) for a, b, n, m in
            zip(o["started_at"], o["ended_at"], o["fix_count"], o["max_speed_kmh"], strict=True)] == \
        [(130, 150, 3, 95.0)]


def test_a_device_without_fixes_is_offline_all_day():
    dd = seg.build_device_day(fixes([(-10 * 86400, -1.0, 36.0, 0, False)]), TH, DAY_START, DAY_END, NOW, 0)
    assert states(dd) == [("offline", 0, 86400)] and dd.fixes_raw == 0 and dd.odometer_monotonic is None
