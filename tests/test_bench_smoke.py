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
