"""Every panel's SQL of every provisioned dashboard, run as ``grafana_ro`` on databases the pipeline filled.

The databases are filled once for the module by ``tests.grafana_scenario`` (the endpoint DAGs against the
simulator, the webhook push, bronze → silver → gold). Each panel's SQL is interpolated the way Grafana does
(``fleet_grafana.macros``: template variables — "All" and single selections — then the PostgreSQL macros)
for the dashboard's own time range, run in a read-only transaction under ``SET ROLE grafana_ro``, and its
columns are checked against what the panel type needs (``fleet_grafana.checks``). A panel whose data exist
in the scenario must return rows; the few that legitimately stay empty are listed with the reason.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
import yaml

from fleet_db.admin import drop_database
from fleet_db.settings import ADMIN_DSN, dsn_with_dbname
from fleet_grafana.checks import all_panels, shape_problems
from fleet_grafana.macros import Variable, interpolate
from tests import grafana_scenario
from tests.conftest import REPO_ROOT
from tests.fixtures.databases import SESSION_TAG, _create_from_template


@pytest.fixture(scope="module")
def scenario(airflow_db, live_db_template, dwh_db_template, s3_server, tmp_path_factory):
    names = []
    for template, kind in ((live_db_template, "live"), (dwh_db_template, "dwh")):
        name = f"test_dash_{kind}_{SESSION_TAG}_{uuid.uuid4().hex[:6]}"
        _create_from_template(template, name)
        names.append(name)
    try:
        yield grafana_scenario.build(dsn_with_dbname(ADMIN_DSN, names[0]), dsn_with_dbname(ADMIN_DSN, names[1]),
                                     s3_server, str(tmp_path_factory.mktemp("dash")), REPO_ROOT)
    finally:
        for name in names:
            drop_database(name)


DASHBOARDS = REPO_ROOT / "grafana" / "dashboards"
DATABASE_OF = {ds["uid"]: ds["jsonData"]["database"] for ds in yaml.safe_load(
    (REPO_ROOT / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text())["datasources"]}

#: Panels that may legitimately return no rows in the scenario, and why. Everything else must return rows.
MAY_BE_EMPTY = {
    ("Pipeline health", "Recent API errors"): "the simulator injects no faults in this scenario",
    ("Pipeline health", "Recent warehouse failures"): "no extract run fails in this scenario",
    ("NOC live", "Idling now"): "depends on whether a simulated vehicle idles at this very minute",
    ("Daily operations", "Currently idle"): "same as NOC / Idling now",
    ("NOC live", "Silent devices"): "a 12-device fleet may have no chronically silent device",
    ("Daily operations", "Not moved today"): "depends on the hour: every vehicle may have moved already",
    ("Daily operations", "Idle cost by vehicle today"): "early in the local day no idling may be reported yet",
    ("Vehicle day", "Segments"): "the warehouse builds segments for finished days only (empty for today)",
}
RELATIVE = re.compile(r"now(?:-(\d+)([mhdw]))?")


def _relative(text: str, now: datetime) -> datetime:
    match = RELATIVE.fullmatch(text)
    assert match, f"unsupported time {text!r}"
    if not match[1]:
        return now
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return now - timedelta(**{unit: int(match[1])})


def _as_grafana_ro(dsn: str, sql: str, params=None):
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute("SET LOCAL ROLE grafana_ro")
            cur.execute(sql, params)
            columns = [d.name for d in cur.description]
            oids = [d.type_code for d in cur.description]
            rows = cur.fetchall()
            cur.execute("SELECT oid, typname FROM pg_type WHERE oid = ANY(%s)", (oids,))
            names = dict(cur.fetchall())
        conn.rollback()
        return columns, [names[o] for o in oids], rows
    finally:
        conn.close()


def _boards() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))]


def _focus_vehicle(scenario) -> str:
    """The Nairobi vehicle with the most trips and alarms yesterday (ties: imei): every Vehicle day panel has
    data, and it stays selectable when the city filter is Nairobi only."""
    nairobi = [i for i, c in scenario.cities.items() if c == "Nairobi"]
    _, _, rows = _as_grafana_ro(scenario.live_dsn, """
        SELECT imei FROM (
            SELECT imei FROM tracksolid.trips WHERE tracksolid.local_day(start_time) = %(day)s
            UNION ALL
            SELECT imei FROM tracksolid.alarms WHERE tracksolid.local_day(alarm_time) = %(day)s) x
        WHERE imei = ANY(%(imeis)s)
        GROUP BY imei ORDER BY count(*) DESC, imei LIMIT 1""", {"day": scenario.yesterday, "imeis": nairobi})
    return rows[0][0]


def _variables(board: dict, scenario, mode: str, start, end, focus: str) -> dict[str, Variable]:
    """Resolve the board's variables like Grafana: each query run (as grafana_ro) with the ones before it."""
    chosen: dict[str, Variable] = {}
    for var in board["templating"]["list"]:
        assert var["type"] == "query", var["name"]
        dsn = scenario.dsn(DATABASE_OF[var["datasource"]["uid"]])
        columns, _, rows = _as_grafana_ro(dsn, interpolate(var["query"], start, end, chosen))
        value_col = columns.index("__value") if "__value" in columns else 0
        options = [str(r[value_col]) for r in rows]
        assert options, f"{board['title']}: variable {var['name']} has no options"
        if var["name"] == "city":
            values = tuple(options) if mode == "all" else ("Nairobi",)
            assert set(values) <= set(options)
            chosen["city"] = Variable("city", values, multi=True, include_all=True, is_all=mode == "all")
        elif var["name"] == "vehicle":
            assert focus in options
            chosen["vehicle"] = Variable("vehicle", (focus,))
        elif var["name"] == "day":
            day = (scenario.yesterday if mode == "all" else scenario.today).isoformat()
            assert day in options
            chosen["day"] = Variable("day", (day,))
        else:
            chosen[var["name"]] = Variable(var["name"], (options[0],))
    return chosen


@pytest.fixture(scope="module")
def results(scenario) -> dict[str, dict]:
    """Every target of every panel of every dashboard, for "All" cities (and yesterday) and for one city
    (and today): {mode: {(dashboard title, panel title, refId): (columns, types, rows)}}."""
    focus = _focus_vehicle(scenario)
    now = datetime.now(UTC).replace(microsecond=0)
    out: dict[str, dict] = {}
    for mode in ("all", "one_city"):
        found = out.setdefault(mode, {})
        for board in _boards():
            start, end = _relative(board["time"]["from"], now), _relative(board["time"]["to"], now)
            variables = _variables(board, scenario, mode, start, end, focus)
            for panel in all_panels(board["panels"]):
                for target in panel.get("targets", []):
                    uid = (target.get("datasource") or panel["datasource"])["uid"]
                    sql = interpolate(target["rawSql"], start, end, variables)
                    try:
                        found[(board["title"], panel["title"], target["refId"])] = \
                            _as_grafana_ro(scenario.dsn(DATABASE_OF[uid]), sql)
                    except psycopg2.Error as exc:
                        pytest.fail(f"{board['title']} / {panel['title']} ({mode}): {exc}\n{sql}")
    out["focus"] = focus
    return out


def _panels():
    for board in _boards():
        for panel in all_panels(board["panels"]):
            for target in panel.get("targets", []):
                yield board, panel, target


def test_every_panel_query_returns_the_columns_its_panel_needs(results):
    checked = 0
    for board, panel, target in _panels():
        for mode in ("all", "one_city"):
            columns, types, _ = results[mode][(board["title"], panel["title"], target["refId"])]
            problems = shape_problems(panel, columns, types, target["refId"])
            assert not problems, f"{board['title']} / {panel['title']} ({mode}): {problems}"
            checked += 1
    assert checked >= 2 * 60


def test_every_panel_with_data_in_the_scenario_returns_rows(results):
    empty = sorted({(b, p) for (b, p, _), (_, _, rows) in results["all"].items() if not rows} - set(MAY_BE_EMPTY))
    assert not empty, f"panels without rows on the pipeline-filled databases: {empty}"


def _one(results, mode, board, title, ref="A"):
    columns, _, rows = results[mode][(board, title, ref)]
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_noc_counts_and_map_match_the_fleet(results, scenario):
    def counts(mode):
        return {state: _one(results, mode, "NOC live", state.capitalize())[0]["vehicles"]
                for state in ("moving", "idle", "parked", "offline")}

    assert sum(counts("all").values()) == len(scenario.imeis)
    nairobi = {i for i, c in scenario.cities.items() if c == "Nairobi"}
    assert sum(counts("one_city").values()) == len(nairobi)
    live = {r["imei"]: r for r in _one(results, "all", "NOC live", "Live positions")}
    assert set(live) == set(scenario.imeis)
    assert {r["imei"] for r in _one(results, "one_city", "NOC live", "Live positions")} == nairobi
    _, _, truth = _as_grafana_ro(scenario.live_dsn, "SELECT imei, lat, lng FROM tracksolid.live_positions")
    assert {(i, live[i]["latitude"], live[i]["longitude"]) for i, _, _ in truth} == set(truth)


def test_daily_operations_today_and_sla_match_the_planted_rows(results, scenario):
    roll_up = _one(results, "all", "Daily operations", "Per-vehicle today")
    assert sorted(r["imei"] for r in roll_up) == sorted(scenario.imeis)
    sla = {t: _one(results, "all", "Daily operations", t)[0]["tickets"]
           for t in ("Open tickets", "SLA at risk", "SLA breached")}
    assert sla == {"Open tickets": len(grafana_scenario.TICKETS), "SLA at risk": 1, "SLA breached": 1}


def test_vehicle_day_shows_the_whole_day_of_the_vehicle(results, scenario):
    focus = results["focus"]
    track = _one(results, "all", "Vehicle day", "Track and alarms", "A")
    _, _, truth = _as_grafana_ro(scenario.live_dsn, """
        SELECT count(*) FROM tracksolid.position_history
        WHERE imei = %s AND tracksolid.local_day(gps_time) = %s""", (focus, scenario.yesterday))
    assert len(track) == truth[0][0] > 0
    assert [r["time"] for r in track] == sorted(r["time"] for r in track)
    # today is not built yet: no segments, and no closing row with a NULL time either
    assert _one(results, "one_city", "Vehicle day", "Segments") == []
    segments = _one(results, "all", "Vehicle day", "Segments")
    assert segments and segments[-1]["state"] is None  # the closing row ends the last segment
    assert {r["state"] for r in segments[:-1]} <= {"moving", "idle", "parked", "offline"}
    trips = _one(results, "all", "Vehicle day", "Trips")
    km = _one(results, "all", "Vehicle day", "Distance")[0]["km"]
    assert trips and float(km) == pytest.approx(float(sum(r["km"] for r in trips)), abs=0.01 * len(trips))
