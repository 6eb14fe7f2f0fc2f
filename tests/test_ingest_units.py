"""fleet_ingest helpers: windows, target/batch planning, the failure callback, the summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleet_ingest.planning import PlanningError, active_imeis, make_batches, plan_batches, resolve_targets
from fleet_ingest.summary import print_summary
from fleet_ingest.tasks import summarise
from fleet_ingest.windows import Window, WindowError, resolve_window

S = datetime(2024, 5, 7, 6, 0, tzinfo=UTC)
E = datetime(2024, 5, 7, 6, 15, tzinfo=UTC)


# --- windows -------------------------------------------------------------------------------------------
def test_data_interval_is_the_window():
    w = resolve_window({}, S, E)
    assert (w.start, w.end, w.fetch_start) == (S, E, S)


def test_overlap_moves_only_the_fetch_start():
    w = resolve_window({"start": None, "end": None}, S, E, overlap=timedelta(minutes=5))
    assert (w.start, w.end, w.fetch_start) == (S, E, S - timedelta(minutes=5))


def test_params_override_the_interval_and_naive_times_are_utc():
    w = resolve_window({"start": "2024-01-01T00:00:00", "end": "2024-01-02T03:00:00+03:00"}, S, E)
    assert w.start == datetime(2024, 1, 1, tzinfo=UTC) and w.end == datetime(2024, 1, 2, tzinfo=UTC)


def test_window_round_trips_through_xcom():
    w = resolve_window({}, S, E, overlap=timedelta(minutes=5))
    assert Window.from_xcom(w.as_xcom()) == w


@pytest.mark.parametrize(("params", "interval", "message"), [
    ({}, (None, None), "no data window"),
    ({"start": "2024-01-01T00:00:00Z"}, (S, E), "both 'start' and 'end'"),
    ({"start": "yesterday", "end": "today"}, (S, E), "not an ISO-8601 time"),
    ({"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, (S, E), "empty window"),
    ({}, (S, S), "no data window"),
])
def test_bad_or_missing_windows_fail_clearly(params, interval, message):
    with pytest.raises(WindowError, match=message):
        resolve_window(params, *interval)


# --- planning ------------------------------------------------------------------------------------------
def test_targets_default_to_the_connection_and_unknown_ones_are_refused():
    assert resolve_targets(["a", "b", "a"], None) == ["a", "b"]
    assert resolve_targets(["a", "b"], ["b"]) == ["b"]
    with pytest.raises(PlanningError, match="zzz"):
        resolve_targets(["a", "b"], ["zzz"])


def test_batches_never_exceed_the_size_and_cover_every_imei_once():
    imeis = {"a": [f"a{i:03}" for i in range(120)], "b": [f"b{i:03}" for i in range(51)], "c": []}
    batches = make_batches(imeis, 50)
    assert [(b["target"], b["batch_no"], len(b["imeis"])) for b in batches] == [
        ("a", 1, 50), ("a", 2, 50), ("a", 3, 20), ("b", 1, 50), ("b", 2, 1)]
    assert sorted(i for b in batches for i in b["imeis"]) == sorted(imeis["a"] + imeis["b"])
    assert batches[0]["label"] == "a #1 (50 IMEIs a000..a049)"
    assert batches[-1]["label"] == "b #2 (1 IMEI b050)"
    with pytest.raises(PlanningError):
        make_batches(imeis, 0)


def test_active_imeis_come_from_devices_per_target(live_conn):
    with live_conn.cursor() as cur:
        cur.execute("""INSERT INTO tracksolid.devices (imei, account, is_active, is_registered) VALUES
            ('1', 'a', true, true), ('2', 'a', true, true), ('3', 'a', false, true), ('4', 'b', true, true),
            ('5', 'b', true, false), ('6', 'other', true, true)""")
    assert active_imeis(live_conn, ["a", "b"]) == {"a": ["1", "2"], "b": ["4"]}
    assert active_imeis(live_conn, ["a", "b"], ["2", "4", "3"]) == {"a": ["2"], "b": ["4"]}
    assert [b["imeis"] for b in plan_batches(live_conn, ["a", "b"], 1)] == [["1"], ["2"], ["4"]]


# --- counts, callback, summary ---------------------------------------------------------------------------
def test_summarise_adds_counts_by_table_and_ignores_empty_results():
    results = [{"tables": {"t": {"received": 3, "inserted": 2, "updated": 1}}},
               {"tables": {"t": {"received": 1, "inserted": 1, "updated": 0}, "u": {"received": 5}}}, None]
    assert summarise(results) == {"batches": 2, "tables": {
        "t": {"received": 4, "inserted": 3, "updated": 1}, "u": {"received": 5, "inserted": 0, "updated": 0}}}


def test_print_summary_counts_tables_and_accounts(live_conn, capsys):
    with live_conn.cursor() as cur:
        cur.execute("INSERT INTO tracksolid.devices (imei, account) VALUES ('1', 'acct'), ('2', 'acct')")
        cur.execute("INSERT INTO tracksolid.trips (imei, start_time, distance_km) VALUES "
                    "('1', now(), 2.5), ('2', now(), 1.25)")
    text = print_summary(live_conn)
    assert text in capsys.readouterr().out
    counts = dict(x.split() for x in text.split("Fleet by account:")[0].splitlines()[1:] if x.strip())
    assert counts["devices"] == "2" and counts["trips"] == "2" and counts["alarms"] == "0"
    line = next(x for x in text.splitlines() if x.strip().startswith("acct"))
    assert line.split()[1:3] == ["2/2", "0"] and "3.8" in line  # 2.5 + 1.25 rounded to one decimal


def test_all_results_slices_the_mapped_results_instead_of_iterating_past_the_end():
    from collections.abc import Sequence

    from fleet_ingest.mapped import all_results

    class Probing(Sequence):
        """Like Airflow's lazy sequence: counts single-item fetches, including the miss past the end."""

        def __init__(self, items):
            self.items, self.item_fetches = items, 0

        def __len__(self):
            return len(self.items)

        def __getitem__(self, key):
            if isinstance(key, slice):
                return self.items[key]
            self.item_fetches += 1
            return self.items[key]

    seq = Probing([{"a": 1}, {"a": 2}])
    assert all_results(seq) == [{"a": 1}, {"a": 2}] and seq.item_fetches == 0
    assert list(Probing([1, 2])) == [1, 2]  # iteration would fetch 3 times: 2 items and the miss
    assert all_results(None) == [] and all_results([3]) == [3]
