"""The provisioned dashboards as JSON: Grafana's schema, the code that builds them, datasources, variables,
stats, links. (Every panel's SQL runs in tests/test_dashboard_sql.py.)

The schema is tests/data/grafana/dashboard.schema.json, generated from npm ``@grafana/schema`` by
scripts/grafana_schema/generate.sh (committed, so no npm is needed here).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from fleet_grafana import build, panels
from fleet_grafana.checks import all_panels, data_link_fields, panel_links, static_problems, variables_of

REPO = Path(__file__).resolve().parents[1]
DASHBOARDS = REPO / "grafana" / "dashboards"
SCHEMA = json.loads((REPO / "tests" / "data" / "grafana" / "dashboard.schema.json").read_text())
DATASOURCES = yaml.safe_load((REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text())


def boards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}


def test_committed_json_is_what_the_code_builds():
    assert build.main(["--check"]) == 0, "run: python -m fleet_grafana.build"
    assert set(boards()) == set(build.DASHBOARDS)


@pytest.mark.parametrize("name", sorted(build.DASHBOARDS))
def test_dashboard_validates_against_grafana_schema(name):
    board = boards()[name]
    jsonschema.validate(board, SCHEMA)
    assert board["schemaVersion"] == panels.SCHEMA_VERSION == 42


def test_the_schema_rejects_what_grafana_rejects():
    """The schema is not vacuous: a dashboard without schemaVersion, or a panel with a string id, fails."""
    board = boards()["noc_live.json"]
    broken = {k: v for k, v in board.items() if k != "schemaVersion"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
    broken = json.loads(json.dumps(board))
    broken["panels"][0]["gridPos"] = {"x": 0, "y": 0}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
    broken = json.loads(json.dumps(board))
    broken["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"][0] = {"color": "red"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_no_static_problems():
    uids = {ds["uid"] for ds in DATASOURCES["datasources"]}
    assert static_problems(boards(), uids) == []


def test_static_checks_catch_mistakes():
    uids = {ds["uid"] for ds in DATASOURCES["datasources"]}
    bad = json.loads(json.dumps(boards()))
    noc = bad["noc_live.json"]
    first = noc["panels"][0]
    first["targets"][0]["rawSql"] += " AND vehicle = '$driver'"
    del first["fieldConfig"]["defaults"]["unit"]
    first["datasource"] = {"type": panels.PG_TYPE, "uid": "nope"}
    table = next(p for p in noc["panels"] if p["title"] == "Vehicles now")
    table["fieldConfig"]["overrides"][0]["properties"][0]["value"][0]["url"] = "/d/fleet-nowhere/x?var-vehicle=1"
    problems = static_problems(bad, uids)
    assert any("undefined $driver" in p for p in problems)
    assert any("stat without a unit" in p for p in problems)
    assert any("unknown datasource nope" in p for p in problems)
    assert any("unknown dashboard uid fleet-nowhere" in p for p in problems)


def test_stable_uids_refresh_and_city_variable():
    found = {name: board for name, board in boards().items()}
    assert {b["uid"] for b in found.values()} == {panels.UID_NOC, panels.UID_DAILY, panels.UID_VEHICLE,
                                                   panels.UID_TRENDS, panels.UID_PIPELINE}
    by_uid = {b["uid"]: b for b in found.values()}
    assert by_uid[panels.UID_NOC]["refresh"] == "30s"
    assert by_uid[panels.UID_DAILY]["refresh"] == "1m"
    for uid in (panels.UID_NOC, panels.UID_DAILY, panels.UID_VEHICLE, panels.UID_TRENDS):
        city = variables_of(by_uid[uid])["city"]
        assert city["includeAll"] and city["multi"], uid
    assert set(variables_of(by_uid[panels.UID_VEHICLE])) >= {"vehicle", "day"}
    # Fleet trends reads the warehouse only.
    trends = by_uid[panels.UID_TRENDS]
    assert {p["datasource"]["uid"] for p in all_panels(trends["panels"]) if p["type"] != "row"} == {"tracksolid-dwh"}


def test_every_dashboard_links_to_the_others():
    for name, board in boards().items():
        assert any(link["type"] == "dashboards" and "tracksolid" in link["tags"] for link in board["links"]), name
        assert "tracksolid" in board["tags"], name


def test_vehicle_columns_link_to_vehicle_day_with_the_row_imei():
    """Every panel outside Vehicle day whose SQL returns a vehicle name links to Vehicle day for that row."""
    linked = 0
    for name, board in boards().items():
        if board["uid"] == panels.UID_VEHICLE:
            continue
        for panel in all_panels(board["panels"]):
            sql = " ".join(t.get("rawSql", "") for t in panel.get("targets", []))
            if not re.search(r"\bvehicle\b", sql.split("FROM")[0]):
                continue
            if panel["type"] in ("barchart", "heatmap"):
                continue  # vehicles as axis labels / series names: no row to click (the roll-up tables link)
            urls = [link["url"] for link in panel_links(panel)]
            assert any(u.startswith(f"/d/{panels.UID_VEHICLE}/") and "var-vehicle=${__data.fields.imei}" in u
                       for u in urls), f"{name} / {panel['title']}"
            assert "imei" in data_link_fields(panel)
            linked += 1
    assert linked >= 10


def test_panels_fit_the_grid_without_overlapping():
    for name, board in boards().items():
        cells: dict[tuple[int, int], str] = {}
        for panel in all_panels(board["panels"]):
            g = panel["gridPos"]
            assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, f"{name} / {panel['title']}"
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{name}: {panel['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]


def test_variable_interpolation_follows_grafanas_sql_datasources():
    from datetime import UTC, datetime

    from fleet_grafana.macros import Variable, interpolate

    start, end = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2025, 1, 2, 4, 4, 5, tzinfo=UTC)
    city_all = Variable("city", ("Kampala", "O'Hara"), multi=True, include_all=True, is_all=True)
    vehicle = Variable("vehicle", ("8612",))
    sql = "WHERE city IN ($city) AND imei = '$vehicle' AND x = '${vehicle}' AND $__timeFilter(t)"
    assert interpolate(sql, start, end, {"city": city_all, "vehicle": vehicle}) == (
        "WHERE city IN ('Kampala','O''Hara') AND imei = '8612' AND x = '8612' AND "
        "t BETWEEN '2025-01-02T03:04:05Z' AND '2025-01-02T04:04:05Z'")
    assert interpolate("${city:csv}", start, end, {"city": city_all}) == "Kampala,O'Hara"
    custom_all = Variable("city", ("a",), multi=True, include_all=True, all_value=".*", is_all=True)
    assert interpolate("$city", start, end, {"city": custom_all}) == ".*"
    with pytest.raises(ValueError, match="does not define"):
        interpolate("WHERE d = '$driver'", start, end, {})
    with pytest.raises(ValueError, match="not supported"):
        interpolate("SELECT $__unixEpochGroup(t, '1m')", start, end, {})
