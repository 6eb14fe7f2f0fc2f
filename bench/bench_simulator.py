"""Simulator scale: 10,000 devices across 10 accounts (``--quick``: 1,000 devices).

Measures fleet construction, the cold (plans generated) and warm (plans cached) cost of location.list over
HTTP for every account, a 50-IMEI track.mileage call, one device-day of fixes, and cheap-call throughput.
Ratios are against the 160-device production-size fleet measured in the same run.

    .venv/bin/python -m bench.bench_simulator [--quick]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from bench.results import record
from tracksolid_simulator import Fleet, SimulatorConfig, SimulatorServer
from tracksolid_simulator.client import SimpleClient


def _fmt(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def measure(devices: int, accounts: int) -> dict:
    started = time.perf_counter()
    cfg = SimulatorConfig(devices=devices, accounts=accounts, seed=1, token_get_limit=100)
    fleet = Fleet(cfg, plan_cache_size=max(20_000, devices * 3))
    build_s = time.perf_counter() - started
    out = {"devices": devices, "accounts": accounts, "fleet_build_s": round(build_s, 3)}
    with SimulatorServer(fleet, cfg) as server:
        client = SimpleClient(server.url, cfg.app_key, cfg.app_secret, timeout=600)
        assert client.login(*cfg.account_credentials()[0])["code"] == 0
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            rows = 0
            for account in cfg.account_names():
                body = client.call("jimi.user.device.location.list", target=account)
                assert body["code"] == 0, body
                rows += len(body["result"])
            out[f"location_list_all_accounts_{label}_s"] = round(time.perf_counter() - t0, 3)
        out["location_rows"] = rows
        now = server.now().replace(microsecond=0)
        imeis = ",".join(fleet.imeis_of(cfg.account_names()[0])[:50])
        t0 = time.perf_counter()
        body = client.call("jimi.device.track.mileage", imeis=imeis, begin_time=_fmt(now - timedelta(days=1)),
                           end_time=_fmt(now - timedelta(minutes=1)))
        assert body["code"] == 0, body
        out["mileage_50_imeis_1_day_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        fixes = fleet.truth.fixes(now - timedelta(days=1), now, [fleet.devices[0].imei])
        out["fixes_one_device_day_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        out["fixes_one_device_day_rows"] = len(fixes)
        t0 = time.perf_counter()
        n = 200
        for _ in range(n):
            client.call("jimi.user.child.list", target=cfg.account_names()[0])
        out["cheap_calls_per_s"] = round(n / (time.perf_counter() - t0), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    baseline = measure(160, 3)
    big = measure(1_000 if args.quick else 10_000, 10)
    factor = big["devices"] / baseline["devices"]
    result = {
        "baseline_160": baseline,
        "scaled": big,
        "device_ratio": factor,
        "location_list_cold_ratio": round(big["location_list_all_accounts_cold_s"]
                                          / max(baseline["location_list_all_accounts_cold_s"], 1e-6), 1),
        "location_list_warm_ratio": round(big["location_list_all_accounts_warm_s"]
                                          / max(baseline["location_list_all_accounts_warm_s"], 1e-6), 1),
        "quick": args.quick,
    }
    print(record("simulator_scale", result))


if __name__ == "__main__":
    main()
