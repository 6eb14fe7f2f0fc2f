"""Grafana provisioning as code: datasources, the dashboard provider, and every panel's SQL.

No Grafana server can run here (PLATFORM_NOTES.md), so the provisioning is checked offline: the YAML parses,
paths and datasource uids resolve, and every panel's ``rawSql`` runs — with Grafana's macros expanded the
way Grafana expands them — against a fresh migrated database **as grafana_ro**, on rows whose answer the
test knows.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
import yaml

from fleet_db.settings import DWH_DB, LIVE_DB
from fleet_grafana import macros

REPO = Path(__file__).resolve().parents[1]
GRAFANA = REPO / "grafana"
DATASOURCES_YAML = GRAFANA / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARDS_YAML = GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml"
COMPOSE = REPO / "docker-compose.yaml"

#: The dashboard's time range in these tests: Grafana's default "last 24 hours".
NOW = datetime.now(UTC).replace(microsecond=0)
RANGE_FROM, RANGE_TO = NOW - timedelta(hours=24), NOW + timedelta(minutes=1)

ENV_REF = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _yaml(path: Path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def datasources() -> dict[str, dict]:
    return {ds["uid"]: ds for ds in _yaml(DATASOURCES_YAML)["datasources"]}


def dashboard_files() -> list[Path]:
    return sorted((GRAFANA / "dashboards").rglob("*.json"))


def all_panels(panels: list[dict]):
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def panel_queries() -> list[tuple[str, str, str, str, str]]:
    """(dashboard file, panel title, datasource uid, format, rawSql) of every SQL target."""
    found = []
    for path in dashboard_files():
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in all_panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                if "rawSql" in target:
                    uid = (target.get("datasource") or panel.get("datasource") or {}).get("uid")
                    found.append((path.name, panel["title"], uid, target.get("format", "time_series"),
                                  target["rawSql"]))
    return found


# --- Grafana's PostgreSQL macros (grafana/pkg/tsdb/grafana-postgresql-datasource/macros.go) ----------------

def expand_macros(sql: str, start: datetime = RANGE_FROM, end: datetime = RANGE_TO) -> str:
    """Grafana's PostgreSQL macros expanded over this test's range (``fleet_grafana.macros``, which the
    dashboard tests and the benchmark use too); any other ``$`` reference raises."""
    return macros.expand_macros(sql, start, end)


# --- provisioning files ------------------------------------------------------------------------------

def test_datasources_are_the_two_databases_as_grafana_ro():
    found = datasources()
    assert len(found) == len(_yaml(DATASOURCES_YAML)["datasources"]), "datasource uids must be unique"
    assert {ds["jsonData"]["database"] for ds in found.values()} == {LIVE_DB, DWH_DB}
    for uid, ds in found.items():
        assert ds["type"] in ("grafana-postgresql-datasource", "postgres"), uid
        assert ds["user"] == "grafana_ro", uid
        # The password is an environment reference, never a value.
        assert ds["secureJsonData"]["password"] in ("${GRAFANA_RO_PASSWORD}", "$GRAFANA_RO_PASSWORD"), uid
        assert "password" not in ds.get("jsonData", {}), uid
    assert sum(bool(ds.get("isDefault")) for ds in found.values()) == 1


def _grafana_service() -> dict:
    return _yaml(COMPOSE)["services"]["grafana"]


def _host_path_for(container_path: str) -> Path:
    """The repo folder the grafana service mounts at ``container_path`` (or above it)."""
    for volume in _grafana_service().get("volumes", []):
        source, target = (volume.split(":")[:2] if isinstance(volume, str)
                          else (volume["source"], volume["target"]))
        if source.startswith(".") and (container_path == target or container_path.startswith(target + "/")):
            return (REPO / source / Path(container_path).relative_to(target)).resolve()
    raise AssertionError(f"no bind mount of the grafana service covers {container_path}")


def test_every_provisioning_file_is_mounted_and_every_env_reference_is_set():
    assert _host_path_for("/etc/grafana/provisioning/datasources") == DATASOURCES_YAML.parent
    assert _host_path_for("/etc/grafana/provisioning/dashboards") == DASHBOARDS_YAML.parent
    env = _grafana_service().get("environment", {})
    env_names = set(env) if isinstance(env, dict) else {item.split("=", 1)[0] for item in env}
    for path in (DATASOURCES_YAML, DASHBOARDS_YAML):
        for braced, bare in ENV_REF.findall(path.read_text(encoding="utf-8")):
            assert (braced or bare) in env_names, f"{path.name} reads ${braced or bare}, not set on grafana"


def test_dashboard_provider_path_holds_the_dashboards():
    providers = _yaml(DASHBOARDS_YAML)["providers"]
    assert providers
    for provider in providers:
        assert provider["type"] == "file"
        folder = _host_path_for(provider["options"]["path"])
        assert folder == (GRAFANA / "dashboards").resolve()
        assert sorted(folder.rglob("*.json")) == dashboard_files()
    assert (GRAFANA / "dashboards" / "pipeline_health.json") in dashboard_files()


def test_dashboards_are_consistent_and_reference_provisioned_datasources():
    known = datasources()
    uids = set()
    for path in dashboard_files():
        board = json.loads(path.read_text(encoding="utf-8"))
        assert board["uid"] not in uids, f"duplicate dashboard uid in {path.name}"
        uids.add(board["uid"])
        assert board.get("title") and board.get("panels"), path.name
        ids = [p["id"] for p in all_panels(board["panels"])]
        assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
        for panel in all_panels(board["panels"]):
            if panel.get("type") == "row":
                continue
            refs = [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]
            for ref in filter(None, refs):
                assert ref["uid"] in known, f"{path.name} / {panel['title']}: unknown datasource {ref['uid']}"
                assert ref.get("type") in (None, known[ref["uid"]]["type"]), f"{path.name} / {panel['title']}"
            assert panel.get("targets"), f"{path.name} / {panel['title']} has no query"
    assert panel_queries(), "no panel SQL found"


def test_macro_expansion_matches_grafana():
    start, end = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2025, 1, 2, 4, 4, 5, tzinfo=UTC)
    assert (expand_macros("WHERE $__timeFilter(t)", start, end)
            == "WHERE t BETWEEN '2025-01-02T03:04:05Z' AND '2025-01-02T04:04:05Z'")
    assert expand_macros("SELECT $__timeGroupAlias(t, '5m')") == 'SELECT floor(extract(epoch from t)/300)*300 AS "time"'
    with pytest.raises(ValueError):
        expand_macros("SELECT $__unknown(t)")
    with pytest.raises(ValueError):
        expand_macros("WHERE city = $city")


# --- every panel's SQL, as grafana_ro, on known rows ------------------------------------------------------

#: (method, minutes ago, http_status, api_code, duration_ms, error) — the ingestion_log ground truth.
API_CALLS = [
    ("jimi.user.device.location.list", 5, 200, "0", 120, None),
    ("jimi.user.device.location.list", 65, 200, "0", 180, None),
    ("jimi.user.device.location.list", 125, 503, None, 30000, "HTTP 503 from the endpoint"),
    ("jimi.device.track.mileage", 10, 200, "1006", 90, "API code 1006 (busy), retrying"),
    ("jimi.device.track.mileage", 11, 200, "0", 95, None),
    ("jimi.device.alarm.list", 60 * 30, 200, "0", 100, None),  # 30 h ago: outside the 24 h range
]
#: (path, push_format, status, items, minutes ago, processed) — the push_inbox ground truth.
PUSHES = [
    ("/pushgps", "iothub", "processed", 3, 2, True),
    ("/pushhb", "iothub", "parked", 1, 7, True),
    ("/pro/pushgps", "pro", "stored", 2, 1, False),
]


def _seed(conn) -> None:
    with conn.cursor() as cur:
        for i, (method, ago, http, code, ms, error) in enumerate(API_CALLS):
            cur.execute(
                """INSERT INTO tracksolid.ingestion_log
                   (logged_at, dag_id, run_id, task_id, method, target, imei_count, http_status, api_code,
                    row_count, duration_ms, error)
                   VALUES (%s, 'tracksolid_test', 'run', 'call', %s, 'fleet-1', 50, %s, %s, %s, %s, %s)""",
                (NOW - timedelta(minutes=ago), method, http, code, i, ms, error),
            )
        for i, (path, fmt, status, items, ago, processed) in enumerate(PUSHES):
            received = NOW - timedelta(minutes=ago)
            cur.execute(
                """INSERT INTO tracksolid.push_inbox
                   (received_at, path, push_format, msg_type, payload_sha256, payload, item_count, status,
                    processed_at)
                   VALUES (%s, %s, %s, NULL, %s, '{}'::jsonb, %s, %s, %s)""",
                (received, path, fmt, f"{i:064x}", items, status,
                 received + timedelta(seconds=1) if processed else None),
            )


def _in_range(ago_minutes: int) -> bool:
    return RANGE_FROM <= NOW - timedelta(minutes=ago_minutes) <= RANGE_TO


def _expected_by_title() -> dict[str, object]:
    """What the panels whose answer follows directly from the seeded rows must show."""
    calls = [c for c in API_CALLS if _in_range(c[1])]
    ok = [c for c in calls if c[5] is None and (c[2] or 200) < 400 and (c[3] or "0") == "0"]
    per_method: dict[str, list] = {}
    for c in calls:
        per_method.setdefault(c[0], []).append(c)
    return {
        "API calls": [(len(calls),)],
        "API success rate": [(round(100.0 * len(ok) / len(calls), 1),)],
        "Push requests pending": [(sum(1 for p in PUSHES if not p[5]),)],
        "per-method calls and errors": {
            m: (len(cs), sum(1 for c in cs if c[5] is not None)) for m, cs in per_method.items()
        },
        "recent errors": sorted(c[5] for c in calls if c[5] is not None),
    }


#: The Pipeline-health panels whose answer follows from the rows seeded here.
SEEDED_PANELS = {"API calls", "API success rate", "Push requests pending", "Since last push", "API calls per method",
                 "Push requests per path", "Freshness and latency per endpoint", "Push inbox by status",
                 "Recent API errors"}


def _run_as_grafana_ro(dsn: str, sql: str) -> tuple[list[str], list[tuple]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute("SET LOCAL ROLE grafana_ro")
            cur.execute(sql)
            columns = [d.name for d in cur.description]
            rows = cur.fetchall()
        conn.rollback()
        return columns, rows
    finally:
        conn.close()


@pytest.fixture
def seeded_databases(live_db, dwh_db) -> dict[str, str]:
    conn = psycopg2.connect(live_db)
    conn.autocommit = True
    try:
        _seed(conn)
    finally:
        conn.close()
    return {"tracksolid_db": live_db, "tracksolid_dwh": dwh_db}


def test_every_panel_query_runs_as_grafana_ro(seeded_databases):
    known = datasources()
    expected = _expected_by_title()
    results = {}
    for dashboard, title, uid, fmt, sql in panel_queries():
        if dashboard != "pipeline_health.json" or title not in SEEDED_PANELS:
            continue  # every panel of every dashboard runs on pipeline-filled data in test_dashboard_sql.py
        database = known[uid]["jsonData"]["database"]
        try:
            columns, rows = _run_as_grafana_ro(seeded_databases[database], expand_macros(sql))
        except psycopg2.Error as exc:
            pytest.fail(f"{dashboard} / {title}: SQL failed as grafana_ro: {exc}")
        assert rows, f"{dashboard} / {title}: no rows on the seeded data"
        if fmt == "time_series":
            assert columns[0] == "time", f"{dashboard} / {title}: a time series needs a first column 'time'"
        results[title] = (columns, rows)

    for title in ("API calls", "API success rate", "Push requests pending"):
        assert [tuple(float(v) for v in row) for row in results[title][1]] == expected[title], title

    columns, rows = results["Freshness and latency per endpoint"]
    got = {row[columns.index("method")]: (row[columns.index("calls")], row[columns.index("errors")]) for row in rows}
    assert got == expected["per-method calls and errors"]

    columns, rows = results["API calls per method"]
    per_metric: dict[str, int] = {}
    for row in rows:
        per_metric[row[columns.index("metric")]] = per_metric.get(row[columns.index("metric")], 0) + row[2]
    assert per_metric == {m: v[0] for m, v in expected["per-method calls and errors"].items()}

    columns, rows = results["Recent API errors"]
    assert sorted(row[columns.index("error")] for row in rows) == expected["recent errors"]

    columns, rows = results["Push inbox by status"]
    assert sorted((r[0], r[2], r[3]) for r in rows) == sorted((p[0], p[2], 1) for p in PUSHES)
