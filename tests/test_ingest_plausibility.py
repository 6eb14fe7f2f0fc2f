"""The plausibility window on API rows (issue 12, the same rule as the push receiver): rows parsed by the real
parsers, loaded by the real loaders into a fresh live database; an implausible row is kept aside in
tracksolid.implausible_api_rows and never moves live state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleet_ingest import endpoints
from fleet_ingest.plausible import keep_plausible
from tests.fixtures.databases import scalar
from tracksolid_hook.parsers import parse_location, parse_trip
from tracksolid_hook.plausibility import DEFAULT_FLOOR, PlausibilityWindow, window_from_settings

IMEI = "860000000000077"
NOW = datetime.now(UTC).replace(microsecond=0)


def rows(conn, query: str, params=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def location(gps_time: str, lat: float = -1.25) -> dict:
    return parse_location({"imei": IMEI, "gpsTime": gps_time, "lat": lat, "lng": 36.8, "speed": "10",
                           "status": "1", "posType": "GPS"})


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def test_a_future_dated_poll_never_freezes_the_live_position(live_conn):
    earlier = NOW - timedelta(hours=1)
    endpoints._load_live(live_conn, [location(fmt(earlier))])
    future = location("2100-01-01 00:00:00", lat=-9.0)
    for _ in range(2):  # every poll re-reports it: recorded once
        live, history = endpoints._load_live(live_conn, [future])
        assert (live.received, history.received) == (0, 0)
    later = NOW - timedelta(minutes=1)
    endpoints._load_live(live_conn, [location(fmt(later), lat=-1.5)])
    assert rows(live_conn, "SELECT gps_time, lat FROM tracksolid.live_positions") == [(later, -1.5)]
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 2
    assert rows(live_conn, "SELECT source, table_name, imei, event_time, raw->>'gpsTime' "
                           "FROM tracksolid.implausible_api_rows") == [
        ("poll", "live_positions", IMEI, datetime(2100, 1, 1, tzinfo=UTC), "2100-01-01 00:00:00")]
    assert rows(live_conn, "SELECT source, items FROM tracksolid.v_implausible_times_daily") == [("poll", 1)]


@pytest.mark.parametrize("gps_time", ["0001-01-01 00:00:00", "1970-01-01 00:00:00", "0", "9999-12-31 23:59:59"])
def test_api_rows_outside_the_window_are_kept_aside(live_conn, gps_time):
    trip = parse_trip({"imei": IMEI, "startTime": gps_time, "distance": "1000"})
    good = parse_trip({"imei": IMEI, "startTime": "2025-01-01 00:00:00", "distance": "2000"})
    kept = keep_plausible(live_conn, [trip, good], table="trips", column="start_time", source="trips")
    assert kept == [good]
    assert rows(live_conn, "SELECT source, table_name, event_time FROM tracksolid.implausible_api_rows") == [
        ("trips", "trips", trip["start_time"])]


def test_the_window_comes_from_tracksolid_settings(live_conn):
    near_future = location(fmt(NOW + timedelta(minutes=30)))
    assert keep_plausible(live_conn, [near_future], table="live_positions", column="gps_time", source="poll") == []
    live_conn.cursor().execute("UPDATE tracksolid.settings SET value = 3600 WHERE key = 'plausible_time_max_future_s'")
    assert keep_plausible(live_conn, [near_future], table="live_positions", column="gps_time",
                          source="poll") == [near_future]
    live_conn.cursor().execute("UPDATE tracksolid.settings SET value = 2030 WHERE key = 'plausible_time_floor_year'")
    assert keep_plausible(live_conn, [location("2025-06-01 00:00:00")], table="live_positions", column="gps_time",
                          source="poll") == []


def test_window_rule_edges():
    window = PlausibilityWindow(max_future_s=600, floor=DEFAULT_FLOOR)
    assert window.plausible(DEFAULT_FLOOR) and not window.plausible(DEFAULT_FLOOR - timedelta(seconds=1))
    assert window.plausible(NOW + timedelta(seconds=600), now=NOW)
    assert not window.plausible(NOW + timedelta(seconds=601), now=NOW)
    assert window.plausible(None)  # a missing time is another rule's business
    assert window_from_settings({}) == window
    assert window_from_settings({"plausible_time_max_future_s": 60, "plausible_time_floor_year": 2020}) == \
        PlausibilityWindow(60, datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        PlausibilityWindow(max_future_s=-1)
