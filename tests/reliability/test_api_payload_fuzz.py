"""API payloads fuzzed with Hypothesis: a clear batch error in ingestion_log, never a silent wrong row.

Items are generated with their ground truth (the IMEI and key time each *should* yield, rendered in the formats
the API uses — ``yyyy-MM-dd HH:mm:ss``, unpadded, ISO-8601 ``Z``, epoch seconds / milliseconds — or garbage that
must be rejected), surrounded by random JSON in every other field. Every item must come out either as a row
whose key equals its truth, or as a reject with a reason; never both, never neither. Then whole ``result``
payloads (arrays, wrapped arrays, bare rows, scalars, objects of no known shape) go over real HTTP from the
simulator to the hook: the call returns exactly the rows the truth predicts, with the ``ingestion_log`` row
counting them and naming the rejects, or fails with an audited "unexpected payload shape" error.
Fixed seed, bounded example counts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.fixtures.databases import scalar
from tests.test_hook_simulator import sim_env  # noqa: F401 (fixture)
from tracksolid_hook import parsers
from tracksolid_hook.errors import TracksolidResponseError

SEED = 20241206
COMMAND = "pytest tests/reliability/test_api_payload_fuzz.py"
ITEM_EXAMPLES = 120
HTTP_EXAMPLES = 40

#: parser → (IMEI field or None, key-time field, key-time column, extra kwargs, extra required fields)
PARSERS = {
    "location": (parsers.parse_location, "imei", "gpsTime", "gps_time", {}),
    "track_point": (parsers.parse_track_point, None, "gpsTime", "gps_time", {"imei": "860000000000017"}),
    "trip": (parsers.parse_trip, "imei", "startTime", "start_time", {}),
    "parking": (parsers.parse_parking, "imei", "startTime", "start_time", {"acc_type": "off"}),
    "alarm": (parsers.parse_alarm, "imei", "alertTime", "alarm_time", {}),
    "obd": (parsers.parse_obd, "imei", "dataReportTime", "reading_time", {}),
}
OTHER_FIELDS = ("speed", "direction", "accStatus", "status", "posType", "gpsSpeed", "satellite", "gpsMode",
                "endTime", "distance", "avgSpeed", "runTimeSecond", "elapsed", "durSecond", "stopSecond", "acc",
                "addr", "deviceName", "alarmTypeName", "positioningTime", "odometerReading", "remainingFuel",
                "currentRPM", "vin", "electQuantity", "trackerOil", "currentMileage", "hbTime")

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**18, 10**18),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                        st.sampled_from(["", "null", "0.00L", "12.5V", "ON", "OFF", "1", "0", "-1", "1e308"]))
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=6)
moments = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2037, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC))
GARBAGE_TIMES = ["yesterday", "2024-13-45 99:99:99", "24/05/2024 10:00", "0000-00-00 00:00:00", "T", "2024-05-06X"]


@st.composite
def rendered_time(draw):
    """(value as the API could send it, the moment it means | "blank" | "garbage")."""
    kind = draw(st.sampled_from(["api", "unpadded", "iso_z", "epoch_s", "epoch_ms", "blank", "garbage"]))
    moment = draw(moments)
    if kind == "api":
        return moment.strftime("%Y-%m-%d %H:%M:%S"), moment
    if kind == "unpadded":
        return f"{moment.year}-{moment.month}-{moment.day} {moment.hour}:{moment.minute:02d}:{moment.second:02d}", \
            moment
    if kind == "iso_z":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"), moment
    if kind == "epoch_s":
        return int(moment.timestamp()), moment
    if kind == "epoch_ms":
        return int(moment.timestamp()) * 1000, moment
    if kind == "blank":
        return draw(st.sampled_from([None, "", "null", "  "])), "blank"
    return draw(st.sampled_from(GARBAGE_TIMES)), "garbage"


@st.composite
def item_with_truth(draw, name: str):
    """One payload item of parser ``name`` and what it must become: ("row", imei, moment) or ("reject",)."""
    _, imei_field, time_field, _, kwargs = PARSERS[name]
    item = {field: draw(json_value) for field in draw(st.lists(st.sampled_from(OTHER_FIELDS), max_size=8))}
    imei_kind = draw(st.sampled_from(["text", "padded", "int", "blank", "missing"]))
    imei_value = str(draw(st.integers(10**14, 10**15 - 1)))
    if imei_kind == "text":
        item["imei"] = imei_value
    elif imei_kind == "padded":
        item["imei"] = f" {imei_value} "
    elif imei_kind == "int":
        item["imei"] = int(imei_value)
    elif imei_kind == "blank":
        item["imei"] = draw(st.sampled_from([None, "", "null"]))
    value, meaning = draw(rendered_time())
    item[time_field] = value
    # (0, 0) is what the API sends for an expired device (no position): a usable fix is never exactly there
    lat = draw(st.floats(-89.9, 89.9).filter(lambda v: abs(v) > 1e-6))
    lng = draw(st.floats(-179.9, 179.9))
    coords_ok = draw(st.booleans())
    if coords_ok:
        item["lat"], item["lng"] = lat, lng
    else:
        item["lat"], item["lng"] = draw(st.sampled_from([(0, 0), (None, None), (95.0, 10.0), ("x", "y")]))
    if name == "alarm":
        item["alertTypeId"] = draw(st.sampled_from(["1", "41", "ACC_ON", "", None]))
    if name == "location" and meaning == "blank":  # a device that never had a fix: hbTime decides
        hb_value, hb_meaning = draw(rendered_time())
        item["hbTime"] = hb_value
    truth_imei = imei_value if imei_kind in ("text", "padded", "int") else None
    if name == "track_point":
        truth_imei = imei_value if imei_kind in ("text", "padded", "int") else kwargs["imei"]
    reject = truth_imei is None or meaning == "garbage"
    if meaning == "blank":
        reject = reject or name != "location" or hb_meaning in ("blank", "garbage")
    if name == "track_point" and not coords_ok:
        reject = True
    if name == "alarm" and item["alertTypeId"] in ("", None):
        reject = True
    if reject:
        return item, ("reject",)
    coords = (lat, lng) if coords_ok and meaning != "blank" else None  # no fix: never a position
    return item, ("row", truth_imei, None if meaning == "blank" else meaning, coords)


def check_batch(name: str, pairs: list) -> tuple[int, int]:
    parser, _, _, column, kwargs = PARSERS[name]
    items = [item for item, _ in pairs]
    result = parsers.parse_items(parser, items, **kwargs)
    rows_by_raw = {id(row["raw"]): row for row in result.rows}
    rejected = {id(item) for item, _ in result.rejects}
    assert len(result.rows) + len(result.rejects) == len(items)  # nothing dropped, nothing doubled
    for item, truth in pairs:
        if truth[0] == "reject":
            assert id(item) in rejected, f"{name}: a wrong row from {item!r}"
            continue
        assert id(item) in rows_by_raw, f"{name}: a good item was rejected: {item!r}"
        row = rows_by_raw[id(item)]
        _, imei, moment, coords = truth
        assert row["imei"] == imei and row[column] == moment, (name, item, row)
        if row[column] is not None:
            assert row[column].tzinfo is not None and row[column].utcoffset() == timedelta(0)
        if coords is None:
            assert row.get("lat") is None and row.get("lng") is None
        elif row.get("lat") is not None:
            assert (row["lat"], row["lng"]) == pytest.approx(coords)
    for _, reason in result.rejects:
        assert reason and isinstance(reason, str)
    return len(result.rows), len(result.rejects)


@pytest.mark.parametrize("name", list(PARSERS))
def test_every_item_becomes_its_true_row_or_a_reject_with_a_reason(name, record_figure):
    counts = {"rows": 0, "rejects": 0, "examples": 0}

    @seed(SEED)
    @settings(max_examples=ITEM_EXAMPLES, deadline=None, database=None, derandomize=False)
    @given(st.lists(item_with_truth(name), min_size=1, max_size=6))
    def run(pairs):
        good, bad = check_batch(name, pairs)
        counts["rows"] += good
        counts["rejects"] += bad
        counts["examples"] += 1

    run()
    assert counts["rows"] > 0 and counts["rejects"] > 0  # both outcomes were exercised
    record_figure(f"{name}: fuzzed batches", counts["examples"], unit="batches", command=f"{COMMAND} -k {name}")
    record_figure(f"{name}: items → rows / rejects", f"{counts['rows']} / {counts['rejects']}", unit="items",
                  command=f"{COMMAND} -k {name}")
    record_figure(f"{name}: wrong rows", 0, unit="rows", command=f"{COMMAND} -k {name}")


# --- whole payloads over HTTP, audited -----------------------------------------------------------------

@st.composite
def result_payload(draw):
    """A location.get ``result`` and the truths of the items it carries (None: no readable row array)."""
    pairs = draw(st.lists(item_with_truth("location"), max_size=4))
    items = [item for item, _ in pairs]
    shape = draw(st.sampled_from(["array", "list_object", "rows_object", "bare_row", "null", "scalar", "text",
                                  "unknown_object"]))
    if shape == "array":
        return items, pairs
    if shape == "list_object":
        return {"list": items}, pairs
    if shape == "rows_object":
        return {"rows": items, "total": len(items)}, pairs
    if shape == "bare_row" and pairs and "imei" in items[0]:
        return items[0], pairs[:1]
    if shape == "null":
        return None, []
    if shape == "scalar":
        return draw(st.integers(-5, 10**6) | st.floats(allow_nan=False)), None
    if shape == "text":
        return draw(st.text(max_size=20)), None
    return {"code": draw(st.integers(0, 9)), "msg": draw(st.text(max_size=8))}, None


def test_whole_payloads_over_http_are_rows_or_audited_batch_errors(sim_env, live_conn, record_figure):  # noqa: F811
    from tracksolid_hook import TracksolidHook
    from tracksolid_simulator import FaultSpec

    server = sim_env()
    hook = TracksolidHook()
    imei = server.truth.devices()[0]["imei"]
    outcome = {"rows": 0, "batch_errors": 0, "calls": 0}

    @seed(SEED)
    @settings(max_examples=HTTP_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(result_payload())
    def run(generated):
        result, pairs = generated
        server.set_faults("jimi.device.location.get", FaultSpec(sequence=["custom_result"], result=result))
        before = scalar(live_conn, "SELECT coalesce(max(id), 0) FROM tracksolid.ingestion_log")
        outcome["calls"] += 1
        try:
            rows = hook.location_get([imei])
        except TracksolidResponseError as exc:
            assert pairs is None, f"a readable payload failed: {json.dumps(result, default=str)[:300]}"
            assert "unexpected payload shape" in str(exc)
            with live_conn.cursor() as cur:
                cur.execute("SELECT api_code, row_count, error FROM tracksolid.ingestion_log WHERE id > %s "
                            "AND method = 'jimi.device.location.get'", (before,))
                assert [(r[0], r[1], "unexpected payload shape" in (r[2] or "")) for r in cur.fetchall()] == \
                    [("0", None, True)]
            outcome["batch_errors"] += 1
            return
        assert pairs is not None, f"an unreadable payload gave rows: {json.dumps(result, default=str)[:300]}"
        expected = [t for _, t in pairs if t[0] == "row"]
        rejects = len(pairs) - len(expected)
        want = sorted((t[1], str(t[2])) for t in expected)
        # dedupe keeps one row per IMEI: compare the set of (imei, time) the truth allows per IMEI
        assert {r["imei"] for r in rows} == {w[0] for w in want}
        for row in rows:
            assert (row["imei"], str(row["gps_time"])) in want
        with live_conn.cursor() as cur:
            cur.execute("SELECT row_count, error FROM tracksolid.ingestion_log WHERE id > %s "
                        "AND method = 'jimi.device.location.get'", (before,))
            (row_count, error), = cur.fetchall()
        assert row_count == len(expected)
        assert (error is not None) == (rejects > 0)
        if rejects:
            assert error.startswith(f"{rejects} item(s) rejected")
        outcome["rows"] += len(rows)

    run()
    hook.close()
    assert outcome["batch_errors"] > 0 and outcome["rows"] > 0
    record_figure("whole payloads sent over HTTP", outcome["calls"], unit="calls", command=f"{COMMAND} -k whole")
    record_figure("unreadable payloads: audited batch errors", outcome["batch_errors"], unit="calls",
                  command=f"{COMMAND} -k whole")
    record_figure("readable payloads: rows equal to the truth", outcome["rows"], unit="rows",
                  command=f"{COMMAND} -k whole")
