"""Static and result-shape checks of provisioned dashboards, shared by the tests and the benchmark.

``static_problems(boards, datasource_uids)`` — what a dashboard JSON gets wrong without running anything:
unknown datasource uids, undefined variables, stats without unit or thresholds, data links to dashboards or
variables that do not exist, duplicate uids / panel ids.
``shape_problems(panel, columns, types)`` — what a panel's query result lacks for its panel type: a ``time``
column for time series, heatmaps and state timelines, the configured ``latitude``/``longitude`` for Geomaps,
numbers for stats, the x field of bar charts, and every ``${__data.fields.X}`` a data link uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

VAR_IN_TEXT = re.compile(r"\$\{([\w.]+)(?::[\w]+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")
DATA_FIELD = re.compile(r"\$\{__data\.fields(?:\.|\[\")([\w ]+?)(?:\"\])?(?::\w+)?\}")
DASH_LINK = re.compile(r"/d/([\w-]+)(?:/[\w-]*)?(?:\?([^#]*))?")

NUMERIC = {"int2", "int4", "int8", "numeric", "float4", "float8"}
TIME = {"timestamptz", "timestamp", "date"}


def all_panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def variables_of(board: dict) -> dict[str, dict]:
    return {v["name"]: v for v in board.get("templating", {}).get("list", [])}


def _refs(text: str) -> set[str]:
    names = set()
    for braced, bracketed, bare in VAR_IN_TEXT.findall(text or ""):
        name = (braced or bracketed or bare).split(".")[0]
        if not name.startswith("__"):  # Grafana's globals and macros ($__timeFilter, ${__data...}) start with __
            names.add(name)
    return names


def panel_links(panel: dict) -> list[dict]:
    config = panel.get("fieldConfig", {})
    links = list(config.get("defaults", {}).get("links", []))
    for override in config.get("overrides", []):
        for prop in override.get("properties", []):
            if prop.get("id") == "links":
                links += prop.get("value", [])
    return links + list(panel.get("links", []))


def static_problems(boards: dict[str, dict], datasource_uids: set[str]) -> list[str]:
    """Problems across ``boards`` (file name → dashboard JSON)."""
    problems: list[str] = []
    by_uid: dict[str, dict] = {}
    for name, board in boards.items():
        if board["uid"] in by_uid:
            problems.append(f"{name}: duplicate dashboard uid {board['uid']}")
        by_uid[board["uid"]] = board
    for name, board in boards.items():
        defined = set(variables_of(board))
        ids = [p.get("id") for p in all_panels(board.get("panels", []))]
        if len(ids) != len(set(ids)):
            problems.append(f"{name}: duplicate panel ids")
        for var in board.get("templating", {}).get("list", []):
            if var.get("datasource") and var["datasource"].get("uid") not in datasource_uids:
                problems.append(f"{name} / variable {var['name']}: unknown datasource")
            for ref in _refs(str(var.get("query", ""))):
                if ref not in defined or ref == var["name"]:
                    problems.append(f"{name} / variable {var['name']}: uses undefined ${ref}")
        for panel in all_panels(board.get("panels", [])):
            where = f"{name} / {panel.get('title')}"
            if panel.get("type") == "row":
                continue
            for ref in _refs(panel.get("title", "")):
                if ref not in defined:
                    problems.append(f"{where}: title uses undefined ${ref}")
            refs = [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]
            for ds in filter(None, refs):
                if ds.get("uid") not in datasource_uids:
                    problems.append(f"{where}: unknown datasource {ds.get('uid')}")
            for t in panel.get("targets", []):
                for ref in _refs(t.get("rawSql", "")):
                    if ref not in defined:
                        problems.append(f"{where}: SQL uses undefined ${ref}")
            if panel.get("type") == "stat":
                defaults = panel.get("fieldConfig", {}).get("defaults", {})
                if not defaults.get("unit"):
                    problems.append(f"{where}: stat without a unit")
                if len(defaults.get("thresholds", {}).get("steps", [])) < 2:
                    problems.append(f"{where}: stat without thresholds (base + at least one step)")
            for link in panel_links(panel):
                problems += _link_problems(where, link.get("url", ""), by_uid, defined)
        for link in board.get("links", []):
            if link.get("type") == "link":
                problems += _link_problems(name, link.get("url", ""), by_uid, defined)
    return problems


def _link_problems(where: str, url: str, by_uid: dict[str, dict], defined: set[str]) -> list[str]:
    problems = []
    for ref in _refs(DATA_FIELD.sub("", url)):
        if ref not in defined:
            problems.append(f"{where}: link uses undefined ${ref}")
    match = DASH_LINK.search(url)
    if match:
        target = by_uid.get(match[1])
        if target is None:
            return problems + [f"{where}: link to unknown dashboard uid {match[1]}"]
        for param in (match[2] or "").split("&"):
            if param.startswith("var-"):
                var = param[4:].split("=", 1)[0]
                if var not in variables_of(target):
                    problems.append(f"{where}: link sets var-{var}, not a variable of {match[1]}")
    return problems


def data_link_fields(panel: dict) -> set[str]:
    return {m for link in panel_links(panel) for m in DATA_FIELD.findall(link.get("url", "") + link.get("title", ""))}


def shape_problems(panel: dict, columns: list[str], types: list[str], ref_id: str = "A") -> list[str]:
    """What the result of target ``ref_id`` (column names, PostgreSQL type names) lacks for the panel's type."""
    kind, problems = panel["type"], []
    typed = dict(zip(columns, types, strict=True))
    target = next(t for t in panel["targets"] if t["refId"] == ref_id)
    fmt = target.get("format", "time_series")
    if kind in ("timeseries", "heatmap", "state-timeline") or fmt == "time_series":
        if "time" not in typed or typed["time"] not in TIME | NUMERIC:
            problems.append(f"needs a time column 'time' (got {columns})")
        if kind in ("timeseries", "heatmap") and not any(t in NUMERIC for c, t in typed.items() if c != "time"):
            problems.append("needs at least one numeric value column")
    if kind == "geomap":
        for layer in panel["options"]["layers"]:
            only = layer.get("filterData", {}).get("options")
            if only and only != ref_id:
                continue
            for key in ("latitude", "longitude"):
                name = layer["location"][key]
                if typed.get(name) not in NUMERIC:
                    problems.append(f"geomap layer needs numeric column {name!r} (got {typed})")
    if kind == "stat":
        if not any(t in NUMERIC for t in typed.values()):
            problems.append(f"a stat needs a numeric column (got {typed})")
    if kind == "barchart":
        x = panel["options"].get("xField")
        if x not in typed:
            problems.append(f"bar chart x field {x!r} missing")
    for field in data_link_fields(panel) if len(panel["targets"]) == 1 else ():
        if field not in typed:
            problems.append(f"data link uses field {field!r}, not returned")
    return problems
