"""The daily fleet report: a simulated day in the warehouse, rendered, checked against the simulator's truth,
stored in a real S3 endpoint (moto), mailed to a local SMTP server and opened in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from fleet_dwh import silver_gold
from fleet_report.data import load_report_data, report_day
from fleet_report.render import render_report, write_files
from tests.conftest import REPO_ROOT
from tests.fixtures.dwh import load_alarms_into_bronze, load_devices_into_bronze, load_fixes_into_bronze
from tracksolid_simulator import Fleet, SimulatorConfig

DAY = date(2026, 3, 2)
DAY_START = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)  # 00:00 EAT
DAY_END = DAY_START + timedelta(days=1)
NEVER_SEEN = "869999000000001"   # planted: in the device master, never reported
SILENT_25H = "869999000000002"   # planted: last fix 25 h before the day's end, parked since
PARKED_ALL_DAY = "869999000000003"  # planted: reports all day from the depot, never moves


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(SimulatorConfig(devices=20, accounts=3, seed=5))


def _plant(dwh, fleet: Fleet) -> None:
    """The simulator's day in bronze, silver and gold, plus three planted vehicles and the depot outline."""
    planted = [
        {"imei": NEVER_SEEN, "device_name": "Never seen", "license_plate_no": "KZZ 001A", "assigned_city": "Kampala"},
        {"imei": SILENT_25H, "device_name": "Silent 25h", "license_plate_no": "KZZ 002A", "assigned_city": "Mombasa"},
        {"imei": PARKED_ALL_DAY, "device_name": "Parked <b>all</b> day", "license_plate_no": "KZZ 003A",
         "assigned_city": "Nairobi"},
    ]
    load_devices_into_bronze(dwh, fleet.truth.devices() + planted)
    fixes = fleet.truth.fixes(DAY_START - timedelta(hours=6), DAY_END + timedelta(hours=6))
    fixes.append({"imei": SILENT_25H, "gps_time": DAY_END - timedelta(hours=25), "lat": -4.05, "lng": 39.67,
                  "speed_kmh": 0, "acc_status": False})
    fixes += [{"imei": PARKED_ALL_DAY, "gps_time": DAY_START + timedelta(minutes=10 * i), "lat": -1.237,
               "lng": 36.727, "speed_kmh": 0, "acc_status": False} for i in range(144)]
    load_fixes_into_bronze(dwh, fixes)
    load_alarms_into_bronze(dwh, fleet.truth.alarms(DAY_START, DAY_END))
    with dwh.cursor() as cur:
        cur.execute(
            "INSERT INTO bronze.geofences (id, name, kind, city, geom, _run_id, _loaded_at) VALUES (1, 'Nairobi depot',"
            " 'depot', 'Nairobi', ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(36.727, -1.237), 4326)::geography,"
            " 250)::geometry), 'test', now())")
    silver_gold.refresh_day(dwh, DAY)


def _truth_driving_imeis(fleet: Fleet) -> set[str]:
    """Vehicles the simulator moved on the day: any fix of the day above the moving speed (3 km/h)."""
    return {f["imei"] for f in fleet.truth.fixes(DAY_START, DAY_END) if float(f["speed_kmh"] or 0) > 3}


def _not_blank(png: Path) -> None:
    with Image.open(png) as img:
        assert img.width >= 600 and img.height >= 600, img.size
        stat = ImageStat.Stat(img.convert("L"))
        assert stat.stddev[0] > 10, f"{png.name} looks blank (stddev {stat.stddev[0]:.1f})"
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is None or len(colours) > 50, f"{png.name} has only {len(colours)} colours"


def test_report_day_resolution():
    assert report_day("2026-03-05", [{"days": ["2026-03-01"]}]) == date(2026, 3, 5)
    assert report_day(None, [{"days": ["2026-03-01", "2026-03-03"]}, {"day": "2026-03-02"}]) == date(2026, 3, 3)
    # 23:30 UTC on the 4th is 02:30 EAT on the 5th: yesterday in Nairobi is the 4th.
    assert report_day(None, [], now=datetime(2026, 3, 4, 23, 30, tzinfo=UTC)) == date(2026, 3, 4)
    assert report_day(None, [{}], now=datetime(2026, 3, 4, 20, 30, tzinfo=UTC)) == date(2026, 3, 3)


def test_report_rows_equal_the_simulated_truth(dwh_conn, fleet):
    _plant(dwh_conn, fleet)
    data = load_report_data(dwh_conn, DAY)

    devices = {d["imei"]: d for d in fleet.truth.devices()}
    assert {v["imei"] for v in data.vehicles} == set(devices) | {NEVER_SEEN, SILENT_25H, PARKED_ALL_DAY}
    assert data.cities == sorted({d["assigned_city"] for d in devices.values()} | {"Kampala", "Mombasa", "Nairobi"})

    # Not moved = every vehicle the simulator did not drive that day, planted ones included.
    moved = _truth_driving_imeis(fleet)
    assert {v["imei"] for v in data.not_moved} == (set(devices) - moved) | {NEVER_SEEN, SILENT_25H, PARKED_ALL_DAY}
    assert moved, "the simulated fleet drove nobody: the scenario tests nothing"

    # Top alarms: the simulator's alarms of the day, counted per city and type.
    truth = Counter((devices[a["imei"]]["assigned_city"], a["alarm_type"])
                    for a in fleet.truth.alarms(DAY_START, DAY_END))
    assert {(a["city"], a["alarm_type"]): a["alarms"] for a in data.alarms} == dict(truth)
    assert [a["alarms"] for a in data.alarms] == sorted((a["alarms"] for a in data.alarms), reverse=True)

    # Silent at the day's end: the planted ones in their buckets (thresholds 8/12/24/36 h from the settings).
    silent = {s["imei"]: s for s in data.silent}
    assert silent[NEVER_SEEN]["bucket"] == "never" and silent[NEVER_SEEN]["last_seen_at"] is None
    assert silent[SILENT_25H]["bucket"] == "critical" and silent[SILENT_25H]["silent_hours"] == pytest.approx(25)
    assert PARKED_ALL_DAY not in silent
    truth_last = {}
    for f in fleet.truth.fixes(DAY_START - timedelta(hours=6), DAY_END):
        truth_last[f["imei"]] = max(truth_last.get(f["imei"], f["gps_time"]), f["gps_time"])
    for imei in devices:
        silent_h = (DAY_END - truth_last[imei]).total_seconds() / 3600 if imei in truth_last else None
        assert (imei in silent) == (silent_h is None or silent_h >= 8), (imei, silent_h)

    # Every vehicle's km / idle / utilisation is its gold row (gold itself is checked against truth elsewhere).
    with dwh_conn.cursor() as cur:
        cur.execute("SELECT imei, km, idle_s, utilisation_pct FROM gold.fact_daily_fleet_metrics WHERE local_day = %s",
                    (DAY,))
        gold = {r[0]: r[1:] for r in cur.fetchall()}
    for v in data.vehicles:
        if v["imei"] in gold:
            km, idle_s, util = gold[v["imei"]]
            assert (v["km"], v["idle_h"] * 3600, v["utilisation_pct"]) == pytest.approx((km, float(idle_s), util))

    # The city page holds exactly that city's rows.
    nairobi = data.for_city("Nairobi")
    assert {v["city"] for v in nairobi.vehicles} == {"Nairobi"} and set(nairobi.tracks) <= {
        v["imei"] for v in nairobi.vehicles}


def test_report_renders_html_png_pdf_and_opens_in_chromium(dwh_conn, fleet, tmp_path):
    _plant(dwh_conn, fleet)
    data = load_report_data(dwh_conn, DAY)
    files = {f.name: f for f in render_report(data)}
    pages = ["fleet.png"] + [f"city-{c.lower()}.png" for c in data.cities]
    assert sorted(files) == sorted(["fleet_report.html", "fleet_report.pdf", *pages])
    pdf = files["fleet_report.pdf"].body
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= len(pages)
    paths = {p.name: p for p in write_files(list(files.values()), tmp_path / "report")}
    for name in pages:
        _not_blank(paths[name])

    html = files["fleet_report.html"].body.decode()
    for city in data.cities:
        assert f'id="city-{city.lower()}"' in html
    assert "Parked &lt;b&gt;all&lt;/b&gt; day" in html and "<b>all</b>" not in html  # names are escaped
    assert html.count("data:image/png;base64,") == 2 * (1 + len(data.cities))

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium package is required (scripts/bootstrap.sh installs it)"
    shot = tmp_path / "screenshot.png"
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={shot}",
         "--window-size=1280,1800", "--enable-logging=stderr", "--v=0", paths["fleet_report.html"].as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    page_errors = [line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
                   or "Failed to load resource" in line]
    assert not page_errors, page_errors
    _not_blank(shot)


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def test_dag_is_scheduled_on_gold_not_on_a_clock():
    from fleet_dwh.assets import GOLD_DAILY_METRICS

    dag = _dag("fleet_daily_report")
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable" and not dag.catchup
    assert [a.name for a in dag.timetable.asset_condition.objects] == [GOLD_DAILY_METRICS.name]
    assert dag.params["day"] is None and dag.doc_md and "report" in dag.tags


def test_dag_stores_the_report_and_mails_it(airflow_db, airflow_db_conns, dwh_conn, fleet, fleet_s3,
                                            notify_receivers, monkeypatch):
    _plant(dwh_conn, fleet)
    monkeypatch.setenv("FLEET_REPORT_EMAIL_TO", "ops@example.test, fleet@example.test")
    dag = _dag("fleet_daily_report")
    run = dag.test(run_conf={"day": DAY.isoformat()})
    assert run.state == "success"

    keys = fleet_s3.keys("reports/")
    names = sorted(k.removeprefix(f"reports/{DAY.isoformat()}/") for k in keys)
    assert names == sorted(["fleet_report.html", "fleet_report.pdf", "fleet.png", "city-kampala.png",
                            "city-mombasa.png", "city-nairobi.png"])
    mails = notify_receivers.mails
    assert len(mails) == 1
    assert mails[0]["subject"] == f"Fleet daily report {DAY.isoformat()}"
    assert set(mails[0]["to"]) == {"ops@example.test", "fleet@example.test"}
    attached = sorted(p.get_filename() for p in mails[0]["message"].walk() if p.get_filename())
    assert attached == names
    assert "Fleet summary" in mails[0]["text"]

    # A re-run of the same day replaces the files (same keys) and mails once more.
    assert dag.test(run_conf={"day": DAY.isoformat()}).state == "success"
    assert fleet_s3.keys("reports/") == keys
    assert len(notify_receivers.mails) == 2


def test_dag_without_smtp_connection_stores_and_skips_mail(airflow_db, airflow_db_conns, dwh_conn, fleet, fleet_s3,
                                                           monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_FLEET_SMTP", raising=False)
    _plant(dwh_conn, fleet)
    run = _dag("fleet_daily_report").test(run_conf={"day": DAY.isoformat()})
    assert run.state == "success"
    assert len(fleet_s3.keys(f"reports/{DAY.isoformat()}/")) == 6
