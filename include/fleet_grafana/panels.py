"""Builders for provisioned Grafana dashboard JSON (schemaVersion 42, the current ``@grafana/schema``).

Every panel queries one of the two provisioned datasources (grafana/provisioning/datasources) with raw SQL in
code mode. Layout is explicit (``gridPos``); panel ids are assigned by :func:`dashboard` in order.
"""

from __future__ import annotations

import copy

SCHEMA_VERSION = 42
PG_TYPE = "grafana-postgresql-datasource"
LIVE = {"type": PG_TYPE, "uid": "tracksolid-live"}
DWH = {"type": PG_TYPE, "uid": "tracksolid-dwh"}

#: Stable dashboard uids: links and bookmarks use them.
UID_NOC = "fleet-noc-live"
UID_DAILY = "fleet-daily-ops"
UID_VEHICLE = "fleet-vehicle-day"
UID_TRENDS = "fleet-trends"
UID_PIPELINE = "fleet-pipeline-health"

#: State colours shared by the map, the counts and the state timeline.
STATE_COLOURS = {"moving": "green", "idle": "orange", "parked": "blue", "offline": "red"}


def state_mappings() -> list[dict]:
    return [{"type": "value", "options": {
        state: {"color": colour, "index": i, "text": state}
        for i, (state, colour) in enumerate(STATE_COLOURS.items())}}]


def thresholds(*steps: tuple[float | None, str]) -> dict:
    """``thresholds((None, "green"), (80, "red"))`` — the first step is the base (value null)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def target(sql: str, fmt: str = "table", ds: dict = LIVE, ref: str = "A") -> dict:
    return {"refId": ref, "datasource": dict(ds), "editorMode": "code", "rawQuery": True, "format": fmt,
            "rawSql": sql.strip()}


#: The panel-side city filter (``city`` column of the C2 views).
CITY_FILTER = "coalesce(city, 'unassigned') IN ($city)"


def vehicle_override(imei_field: str = "imei", day_field: str | None = None, name: str = "vehicle") -> dict:
    """Makes the ``vehicle`` column a link into Vehicle day."""
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": "links", "value": [vehicle_link(imei_field, day_field)]}]}


def vehicle_link(imei_field: str = "imei", day_field: str | None = None) -> dict:
    """Data link into Vehicle day for the clicked row (TeslaMate style: a field value in the URL)."""
    url = f"/d/{UID_VEHICLE}/vehicle-day?var-vehicle=${{__data.fields.{imei_field}}}"
    if day_field:
        url += f"&var-day=${{__data.fields.{day_field}}}"
    return {"title": "Vehicle day: ${__data.fields.vehicle}", "url": url, "targetBlank": False}


def _panel(kind: str, title: str, sql: str | list[str], *, w: int, h: int, x: int, y: int, ds: dict = LIVE,
           fmt: str = "table", description: str = "", unit: str | None = None, steps=None, links=None,
           overrides=None, mappings=None, options=None, custom=None, decimals=None, min_=None, max_=None) -> dict:
    sqls = [sql] if isinstance(sql, str) else sql
    defaults: dict = {}
    if unit:
        defaults["unit"] = unit
    if decimals is not None:
        defaults["decimals"] = decimals
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    if steps:
        defaults["thresholds"] = thresholds(*steps)
        defaults["color"] = {"mode": "thresholds"}
    if links:
        defaults["links"] = links
    if mappings:
        defaults["mappings"] = mappings
    if custom:
        defaults["custom"] = custom
    return {
        "type": kind, "title": title, "description": description,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "datasource": dict(ds),
        "targets": [target(s, fmt, ds, chr(ord("A") + i)) for i, s in enumerate(sqls)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }


def stat(title: str, sql: str, *, unit: str, steps, **kw) -> dict:
    """A stat: a unit and thresholds are required (every stat of every dashboard has both)."""
    return _panel("stat", title, sql, unit=unit, steps=steps, options={
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background", "graphMode": "none", "textMode": "auto", "justifyMode": "auto",
        "orientation": "auto"}, **kw)


def table(title: str, sql: str, *, sort: str | None = None, **kw) -> dict:
    options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"]}}
    if sort:
        options["sortBy"] = [{"displayName": sort, "desc": True}]
    return _panel("table", title, sql, options=options, **kw)


def timeseries(title: str, sql: str | list[str], *, bars: bool = False, stack: bool = False, **kw) -> dict:
    custom = {"drawStyle": "bars" if bars else "line", "fillOpacity": 60 if bars else 10, "lineWidth": 1,
              "showPoints": "never", "spanNulls": False,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    kw.setdefault("fmt", "time_series")
    return _panel("timeseries", title, sql, custom=custom, options={
        "legend": {"displayMode": "table", "placement": "bottom", "showLegend": True, "calcs": ["sum"]},
        "tooltip": {"mode": "multi", "sort": "desc"}}, **kw)


def barchart(title: str, sql: str, *, x_field: str, **kw) -> dict:
    return _panel("barchart", title, sql, options={
        "xField": x_field, "orientation": "horizontal", "showValue": "auto", "stacking": "normal",
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "none"}}, **kw)


def heatmap(title: str, sql: str, **kw) -> dict:
    kw.setdefault("fmt", "time_series")
    return _panel("heatmap", title, sql, options={
        "calculate": False, "cellGap": 1, "color": {"mode": "scheme", "scheme": "Greens", "steps": 64},
        "yAxis": {"axisPlacement": "left"}, "rowsFrame": {"layout": "auto"},
        "tooltip": {"mode": "single", "yHistogram": False}, "legend": {"show": True}}, **kw)


def state_timeline(title: str, sql: str, **kw) -> dict:
    kw.setdefault("fmt", "table")
    return _panel("state-timeline", title, sql, mappings=state_mappings(), options={
        "mergeValues": True, "showValue": "auto", "alignValue": "left", "rowHeight": 0.9,
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "single", "sort": "none"}}, **kw)


def geomap(title: str, sql: str, *, layer: str = "markers", colour_field: str | None = "state",
           centre=(-1.2864, 36.8172), zoom: int = 11, **kw) -> dict:
    """A Geomap with one layer located by the ``latitude`` / ``longitude`` columns (explicit coords mode)."""
    style: dict = {"size": {"fixed": 6, "min": 2, "max": 12}, "opacity": 0.8,
                   "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
                   "color": {"fixed": "dark-green"}}
    if colour_field:
        style["color"] = {"field": colour_field, "fixed": "dark-green"}
    config = {"showLegend": True, "style": style}
    if layer == "route":
        config = {"arrow": 1, "style": {**style, "lineWidth": 3}}
    options = {
        "view": {"id": "coords", "lat": centre[0], "lon": centre[1], "zoom": zoom, "allLayers": True},
        "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
        "basemap": {"type": "default", "name": "Basemap", "config": {}},
        "layers": [{"type": layer, "name": title, "config": config, "tooltip": True,
                    "location": {"mode": "coords", "latitude": "latitude", "longitude": "longitude"}}],
        "tooltip": {"mode": "details"},
    }
    return _panel("geomap", title, sql, mappings=state_mappings() if colour_field == "state" else None,
                  options=options, **kw)


def text(title: str, content: str, *, w: int, h: int, x: int, y: int) -> dict:
    return {"type": "text", "title": title, "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "options": {"mode": "markdown", "content": content}}


def row(title: str, y: int) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
            "panels": []}


def city_variable(ds: dict = LIVE, sql: str | None = None) -> dict:
    """Multi-value city filter with All (no city shows as 'unassigned', as in the gold views, so All never
    hides a vehicle). Panels filter with :data:`CITY_FILTER`."""
    query = sql or ("SELECT DISTINCT coalesce(assigned_city, 'unassigned') AS city FROM tracksolid.devices"
                    " ORDER BY 1")
    return {"name": "city", "label": "City", "type": "query", "datasource": dict(ds),
            "query": query, "definition": query, "refresh": 1, "multi": True, "includeAll": True,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [],
            "sort": 1, "hide": 0}


def query_variable(name: str, label: str, sql: str, ds: dict = LIVE, *, refresh: int = 1) -> dict:
    """A single-value query variable (``__text`` / ``__value`` columns give a label and a value)."""
    return {"name": name, "label": label, "type": "query", "datasource": dict(ds), "query": sql,
            "definition": sql, "refresh": refresh, "multi": False, "includeAll": False, "options": [],
            "sort": 0, "hide": 0}


def dash_links(current_uid: str) -> list[dict]:
    """Every fleet dashboard links to the others (tag-based dropdown keeps the city selection)."""
    return [{"title": "Fleet dashboards", "type": "dashboards", "tags": ["tracksolid"], "asDropdown": True,
             "icon": "external link", "includeVars": False, "keepTime": False, "targetBlank": False,
             "tooltip": "Other Tracksolid fleet dashboards"}]


def dashboard(uid: str, title: str, *, description: str, panels: list[dict], variables: list[dict],
              refresh: str = "", time_from: str = "now-24h", time_to: str = "now", tags=()) -> dict:
    panels = copy.deepcopy(panels)
    for i, panel in enumerate(panels, start=1):
        panel["id"] = i
    return {
        "uid": uid, "title": title, "description": description,
        "tags": ["tracksolid", *tags], "timezone": "Africa/Nairobi", "editable": False, "graphTooltip": 1,
        "refresh": refresh, "schemaVersion": SCHEMA_VERSION, "version": 1, "fiscalYearStartMonth": 0,
        "weekStart": "monday", "liveNow": False,
        "time": {"from": time_from, "to": time_to}, "timepicker": {},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": dash_links(uid),
        "panels": panels,
    }
