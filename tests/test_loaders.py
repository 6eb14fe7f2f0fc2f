"""fleet_db.loaders: COPY → temp table → INSERT … ON CONFLICT, against the real local PostgreSQL."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import psycopg2
import pytest

from fleet_db import loaders
from fleet_db.loaders import LoaderError, copy_chunks, copy_upsert, to_json, transaction, upsert_in_transaction
from tests.fixtures.databases import scalar

T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
FIX_COLUMNS = ["imei", "gps_time", "lat", "lng", "speed_kmh", "direction", "acc_status", "source", "raw"]
FIX_KEYS = ["imei", "gps_time"]


def fix(imei: str, second: int, *, lat=-1.25, lng=36.8, speed=Decimal("12.5"), raw=None) -> dict:
    return {
        "imei": imei, "gps_time": T0 + timedelta(seconds=second), "lat": lat, "lng": lng,
        "speed_kmh": speed, "direction": 90, "acc_status": True, "source": "track_list",
        "raw": raw if raw is not None else {"imei": imei, "n": second},
    }


@pytest.fixture(params=["psycopg2", "psycopg3"])
def conn(request, live_db):
    """Both drivers: PostgresHook hands out psycopg 3 connections, the fixtures psycopg2 ones."""
    connection = psycopg2.connect(live_db) if request.param == "psycopg2" else psycopg.connect(live_db)
    yield connection
    connection.close()


def rows_of(live_conn, query):
    with live_conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchall()


def test_insert_then_rerun_adds_nothing(conn, live_conn):
    fixes = [fix(f"86{i % 3}", i) for i in range(300)]
    first = copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, fixes, FIX_KEYS)
    assert (first.received, first.inserted, first.updated) == (300, 300, 0)

    again = copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, iter(fixes), FIX_KEYS)
    assert (again.received, again.inserted, again.updated, again.unchanged) == (300, 0, 0, 300)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 300
    stored = {(r[0], r[1]) for r in rows_of(live_conn, "SELECT imei, gps_time FROM tracksolid.position_history")}
    assert stored == {(f["imei"], f["gps_time"]) for f in fixes}


def test_values_round_trip_including_escapes_nulls_and_geometry(conn, live_conn):
    tricky = {"name": "tab\there", "line": "a\nb\r\nc", "back": "C:\\path\\N", "uni": "Nairobi – Ke ✓", "n": None}
    row = fix("860000000000001", 0, lat=-1.237, lng=36.727, raw=tricky)
    row["direction"] = None
    row["acc_status"] = None
    copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, [row], FIX_KEYS)

    (imei, gps_time, lat, lng, speed, direction, acc, raw, x, y, srid), = rows_of(
        live_conn,
        "SELECT imei, gps_time, lat, lng, speed_kmh, direction, acc_status, raw, "
        "ST_X(geom), ST_Y(geom), ST_SRID(geom) FROM tracksolid.position_history",
    )
    assert (imei, gps_time, lat, lng, speed) == ("860000000000001", T0, -1.237, 36.727, Decimal("12.5"))
    assert direction is None and acc is None
    assert raw == tricky
    assert (x, y, srid) == (36.727, -1.237, 4326)


def test_sequences_are_accepted_in_column_order(conn, live_conn):
    rows = [("861", T0, -1.0, 36.0, 3, 10, False, "poll", {"k": 1})]
    result = copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, rows, FIX_KEYS)
    assert result.inserted == 1
    assert rows_of(live_conn, "SELECT imei, acc_status, source FROM tracksolid.position_history") == [
        ("861", False, "poll")]


def test_update_changes_only_rows_that_differ_and_moves_ingested_at(conn, live_conn):
    columns = ["imei", "start_time", "end_time", "start_lat", "start_lng", "end_lat", "end_lng", "distance_km",
               "raw"]
    trips = [
        {"imei": "862", "start_time": T0, "end_time": T0 + timedelta(minutes=20), "start_lat": -1.2,
         "start_lng": 36.8, "end_lat": -1.3, "end_lng": 36.9, "distance_km": Decimal("4.2"), "raw": {"d": 4200}},
        {"imei": "862", "start_time": T0 + timedelta(hours=1), "end_time": T0 + timedelta(hours=2),
         "start_lat": -1.3, "start_lng": 36.9, "end_lat": -1.2, "end_lng": 36.8, "distance_km": Decimal("7"),
         "raw": {"d": 7000}},
    ]
    first = copy_upsert(conn, "tracksolid.trips", columns, trips, ["imei", "start_time"], "update")
    assert (first.inserted, first.updated) == (2, 0)
    before = dict(rows_of(live_conn, "SELECT start_time, ingested_at FROM tracksolid.trips"))

    same = copy_upsert(conn, "tracksolid.trips", columns, trips, ["imei", "start_time"], "update")
    assert (same.inserted, same.updated, same.unchanged) == (0, 0, 2)
    assert dict(rows_of(live_conn, "SELECT start_time, ingested_at FROM tracksolid.trips")) == before

    changed = dict(trips[1], distance_km=Decimal("7.5"), end_lat=-1.1)
    result = copy_upsert(conn, "tracksolid.trips", columns, [trips[0], changed], ["imei", "start_time"], "update")
    assert (result.inserted, result.updated) == (0, 1)
    after = dict(rows_of(live_conn, "SELECT start_time, ingested_at FROM tracksolid.trips"))
    assert after[trips[0]["start_time"]] == before[trips[0]["start_time"]]
    assert after[changed["start_time"]] > before[changed["start_time"]]
    assert rows_of(live_conn, "SELECT distance_km, ST_Y(end_geom), ST_X(start_geom) FROM tracksolid.trips "
                              "ORDER BY start_time DESC LIMIT 1") == [(Decimal("7.5"), -1.1, 36.9)]


def test_update_collapses_duplicate_keys_last_row_wins(conn, live_conn):
    columns = ["imei", "start_time", "distance_km"]
    rows = [("863", T0, 1), ("863", T0, 2), ("863", T0, 3)]
    result = copy_upsert(conn, "tracksolid.trips", columns, rows, ["imei", "start_time"], "update")
    assert (result.received, result.inserted) == (3, 1)
    assert scalar(live_conn, "SELECT distance_km FROM tracksolid.trips") == 3


def test_update_if_newer_keeps_the_latest_fix(conn, live_conn):
    columns = ["imei", "gps_time", "lat", "lng", "source", "raw"]
    newest = ("864", T0 + timedelta(minutes=5), -1.5, 36.5, "poll", {"v": "newest"})
    batch = [("864", T0, -1.0, 36.0, "poll", {"v": "old"}), newest, ("864", T0 + timedelta(minutes=1), -1.1,
                                                                      36.1, "poll", {"v": "mid"})]
    result = copy_upsert(conn, "tracksolid.live_positions", columns, batch, ["imei"], "update_if_newer:gps_time")
    assert (result.inserted, result.updated) == (1, 0)

    older = [("864", T0 + timedelta(minutes=2), -9.0, 9.0, "poll", {"v": "late"})]
    result = copy_upsert(conn, "tracksolid.live_positions", columns, older, ["imei"], "update_if_newer:gps_time")
    assert (result.inserted, result.updated) == (0, 0)
    assert rows_of(live_conn, "SELECT gps_time, raw->>'v', ST_X(geom) FROM tracksolid.live_positions") == [
        (newest[1], "newest", 36.5)]

    newer = [("864", T0 + timedelta(minutes=9), -1.6, 36.6, "poll", {"v": "newer"})]
    result = copy_upsert(conn, "tracksolid.live_positions", columns, newer, ["imei"], "update_if_newer:gps_time")
    assert result.updated == 1
    assert rows_of(live_conn, "SELECT raw->>'v', ST_X(geom) FROM tracksolid.live_positions") == [("newer", 36.6)]


def test_a_failing_batch_stores_nothing_and_the_connection_stays_usable(conn, live_conn):
    good = [fix("865", i) for i in range(50)]
    bad = [*good, dict(fix("865", 99), gps_time=None)]  # NOT NULL violation at the very end
    with pytest.raises((psycopg2.Error, psycopg.Error)):
        copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, bad, FIX_KEYS)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 0
    assert copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, good, FIX_KEYS).inserted == 50
    assert conn.autocommit is False


def test_two_tables_in_one_transaction_land_together_or_not_at_all(conn, live_conn):
    columns = ["imei", "gps_time", "lat", "lng", "source"]
    rows = [("866", T0, -1.0, 36.0, "poll")]
    with pytest.raises(RuntimeError):
        with transaction(conn) as cur:
            upsert_in_transaction(cur, "tracksolid.live_positions", columns, rows, ["imei"], "update_if_newer:gps_time")
            upsert_in_transaction(cur, "tracksolid.position_history", columns, rows, FIX_KEYS)
            raise RuntimeError("crash between the loads")
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.live_positions") == 0
    with transaction(conn) as cur:
        upsert_in_transaction(cur, "tracksolid.live_positions", columns, rows, ["imei"], "update_if_newer:gps_time")
        upsert_in_transaction(cur, "tracksolid.position_history", columns, rows, FIX_KEYS)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 1
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.live_positions") == 1


def test_autocommit_connection_is_restored(live_db):
    conn = psycopg2.connect(live_db)
    conn.autocommit = True
    try:
        result = copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, [fix("867", 1)], FIX_KEYS)
        assert result.inserted == 1 and conn.autocommit is True
    finally:
        conn.close()


def test_empty_input_is_a_no_op(conn, live_conn):
    result = copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, [], FIX_KEYS)
    assert (result.received, result.inserted) == (0, 0)


@pytest.mark.parametrize(
    ("table", "columns", "keys", "mode", "message"),
    [
        ("tracksolid.nope", ["imei"], ["imei"], "nothing", "does not exist"),
        ("tracksolid.trips", ["imei", "start_time", "bogus"], ["imei", "start_time"], "nothing", "bogus"),
        ("tracksolid.trips", ["imei"], ["imei", "start_time"], "nothing", "must be loaded"),
        ("tracksolid.trips", ["imei", "start_time"], ["imei", "start_time"], "replace", "on_conflict"),
        ("tracksolid.trips", ["imei", "start_time"], ["imei", "start_time"], "update_if_newer:end_time", "not loaded"),
    ],
)
def test_bad_requests_raise_clear_errors(conn, table, columns, keys, mode, message):
    with pytest.raises(LoaderError, match=message):
        copy_upsert(conn, table, columns, [], keys, mode)


def test_wrong_row_width_is_rejected_and_nothing_stored(conn, live_conn):
    with pytest.raises(LoaderError, match="expected 9"):
        copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, [("868", T0)], FIX_KEYS)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 0


def test_rows_are_streamed_not_materialised():
    consumed = itertools.count()

    def endless():
        for i in itertools.count():
            next(consumed)
            yield ("imei", i)

    chunks = copy_chunks(endless(), chunk_rows=100)
    first = next(chunks)
    assert first.count(b"\n") == 100
    assert next(consumed) == 100  # only one chunk's worth of rows was pulled from the source


# ------------------------------------------------------------------ chunked "nothing" loads (several chunks)
class CountedRow(tuple):
    """A row that counts how many of its kind are alive, to see how many rows the loader holds at once."""

    alive = 0
    most_alive = 0

    def __new__(cls, values):
        row = super().__new__(cls, values)
        CountedRow.alive += 1
        CountedRow.most_alive = max(CountedRow.most_alive, CountedRow.alive)
        return row

    def __del__(self):
        CountedRow.alive -= 1


def test_multi_chunk_load_matches_ground_truth_first_duplicate_wins(conn, live_conn, monkeypatch):
    monkeypatch.setattr(loaders, "CHUNK_ROWS", 100)
    stored_before = [fix("870", s, lat=-1.0) for s in range(0, 1000, 7)]  # already present: must stay as stored
    copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, stored_before, FIX_KEYS)
    fixes = [fix("870", s, lat=-2.0) for s in range(1000)]
    fixes += [fix("870", s, lat=-3.0) for s in range(0, 1000, 13)]  # repeats of keys, in later chunks
    result = copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, iter(fixes), FIX_KEYS)

    assert (result.received, result.inserted) == (len(fixes), 1000 - len(stored_before))
    stored = dict(rows_of(live_conn, "SELECT gps_time, lat FROM tracksolid.position_history"))
    expected = {f["gps_time"]: -2.0 for f in fixes[:1000]} | {f["gps_time"]: -1.0 for f in stored_before}
    assert stored == expected
    again = copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, fixes, FIX_KEYS)
    assert (again.inserted, again.unchanged) == (0, len(fixes))


def test_multi_chunk_load_holds_one_chunk_at_a_time(conn, live_conn, monkeypatch):
    monkeypatch.setattr(loaders, "CHUNK_ROWS", 100)
    columns = ["imei", "gps_time", "lat", "lng", "source"]  # no JSON column: the rows are staged as given
    CountedRow.alive = CountedRow.most_alive = 0

    def rows():
        for s in range(2000):
            yield CountedRow(("871", T0 + timedelta(seconds=s), -1.0, 36.0, "poll"))

    result = copy_upsert(conn, "tracksolid.position_history", columns, rows(), FIX_KEYS)
    assert result.inserted == 2000
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 2000
    assert CountedRow.most_alive <= 100 + 1  # one chunk plus the row being read, never the whole input


def test_failure_in_a_later_chunk_stores_nothing(conn, live_conn, monkeypatch):
    monkeypatch.setattr(loaders, "CHUNK_ROWS", 100)
    good = [fix("872", i) for i in range(450)]
    bad = [*good[:350], dict(fix("872", 999), gps_time=None), *good[350:]]  # NOT NULL violation in chunk 4
    with pytest.raises((psycopg2.Error, psycopg.Error)):
        copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, bad, FIX_KEYS)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 0
    assert copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, good, FIX_KEYS).inserted == 450


def test_rows_that_raise_midway_store_nothing_and_the_error_surfaces(conn, live_conn, monkeypatch):
    monkeypatch.setattr(loaders, "CHUNK_ROWS", 100)

    def rows():
        for i in range(1000):
            if i == 530:
                raise RuntimeError("API page 6 failed")
            yield fix("873", i)

    with pytest.raises(RuntimeError, match="page 6"):
        copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, rows(), FIX_KEYS)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 0
    with pytest.raises(LoaderError, match="expected 9"):  # a malformed row in a later chunk: same outcome
        copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS,
                    [*[fix("873", i) for i in range(250)], ("873", T0)], FIX_KEYS)
    assert scalar(live_conn, "SELECT count(*) FROM tracksolid.position_history") == 0
    assert copy_upsert(conn, "tracksolid.position_history", FIX_COLUMNS, [fix("873", 1)], FIX_KEYS).inserted == 1


def test_to_json_writes_what_the_docstring_promises():
    value = {"d": Decimal("1.10"), "t": datetime(2024, 3, 1, 6, 0, tzinfo=UTC), "s": ("a", 1), "n": None,
             "u": "Nairobi – Ke ✓", "nested": [{"x": 1.5}]}
    assert json.loads(to_json(value)) == {"d": "1.10", "t": "2024-03-01T06:00:00Z", "s": ["a", 1], "n": None,
                                          "u": "Nairobi – Ke ✓", "nested": [{"x": 1.5}]}
    assert "\\u" not in to_json(value)  # UTF-8, not ASCII escapes
