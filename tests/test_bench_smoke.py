"""The warehouse benchmarks still run end to end (tiny sizes, nothing timed or compared to a goal here).

A benchmark is only run by hand (`make bench`); without this, a change to the code it drives can break it
unnoticed until the next measurement.
"""

from __future__ import annotations

from bench import bench_dwh


def test_silver_gold_benchmark_runs_and_checks_its_own_output():
    res = bench_dwh.bench_silver_gold(vehicles=3)
    # 3 vehicles x one fix / 10 s for a day; the benchmark itself asserts every device-day tiles 86,400 s.
    assert res["fixes"] == 3 * 8640 and res["segments"] > 3 and res["trips"] > 0
    assert set(res["silver_phases_s"]) == {"devices_s", "read_s", "compute_s", "write_s"}
    assert res["read_floor_s"] > 0


def test_bronze_benchmark_runs_end_to_end():
    res = bench_dwh.bench_bronze(rows=2_000)
    assert res["rows"] == 2_000 and res["pipeline_s"] > 0 and res["raw_copy_s"] > 0


def test_dashboard_benchmark_times_every_panel_against_the_scan():
    import json

    from bench import bench_dashboards
    from fleet_grafana.checks import all_panels

    res = bench_dashboards.bench_dashboards(devices=40, history_devices=5, days=1, repeats=1)
    targets = sum(len(p.get("targets", [])) for path in bench_dashboards.DASHBOARDS.glob("*.json")
                  for p in all_panels(json.loads(path.read_text())["panels"]))
    assert len(res["panels"]) == targets
    # one finished day of the 5 history vehicles: 2 shifts x 300 moving fixes + the parked half-hourly ones each
    assert 5 * 600 < res["history_day_scan_rows"] < 5 * 650 and res["scan_ms"] > 0
    # today: every vehicle but the silent ones (every 97th: vehicle 0) has fixes
    assert res["scan_rows"] > 0
    assert all(p["median_ms"] > 0 for p in res["panels"])
    assert all(p["gold_only"] for p in res["panels"] if p["dashboard"] == "Fleet trends")


def test_api_sweep_benchmark_runs_with_its_baseline():
    """B3 at a tiny size: every call accounted for against the ground-truth minimum, nothing lost."""
    from bench import bench_api_sweep

    res = bench_api_sweep.main(["--devices", "60", "--accounts", "3", "--rate", "40", "--workers", "4",
                                "--no-record"])
    assert res["calls_by_method"]["jimi.device.track.list"] == 60  # one per device, never more
    assert res["calls"] >= res["minimum_calls"] > 60
    assert res["task_errors"] == 0 and res["rate_limit_errors_reaching_tasks"] == 0
    # a poll per account, an alarms and a track task per batch, a location.get task per omitted batch
    assert res["tasks"] == 3 + 2 * res["batches"] + res["minimum_calls_by_method"]["jimi.device.location.get"]
    assert res["live_positions_rows"] > 0 and len(res["peak_rss_mb_per_worker"]) == 4
    for key in ("achieved_rate_ratio", "peak_rss_mb", "baseline_seconds", "max_requests_in_any_1s"):
        assert res[key] > 0


def test_freshness_benchmark_runs_the_deployed_pipeline():
    """The scheduler-driven DAG and the push receiver both put positions on the map (a short sample)."""
    from bench import bench_freshness

    res = bench_freshness.main(["--minutes", "0.5", "--devices", "30", "--no-record"])
    assert res["samples"]["push"] > 0 and res["samples"]["poll"] > 0
    assert res["push_items_sent"] > 0 and res["push_items_failed"] == 0
    assert res["dag_runs"]["states"] and "failed" not in res["dag_runs"]["states"]
    assert res["shown_from"] == "tracksolid.v_vehicle_state_now"  # the NOC view, not the raw table
    for key in ("push_p50_s", "push_p95_s", "poll_p50_s", "poll_p95_s", "max_s"):
        assert res[key] is not None and res[key] >= 0
