"""``python -m tracksolid_simulator serve --port 8090 --devices 160 --accounts 3 --seed 1`` and
``python -m tracksolid_simulator push --url URL --start ... --end ... --format iothub|pro --token T``.

``serve`` prints the simulator-only app_key / app_secret / account passwords (random unless given through
the environment: ``SIM_APP_KEY``, ``SIM_APP_SECRET``, ``SIM_ACCOUNT_PASSWORDS`` comma-separated) as one JSON
line, then serves until interrupted. ``--fault METHOD=SPEC_JSON`` injects faults, e.g.
``--fault 'jimi.device.track.list={"probability":0.2,"kinds":[-1,"slow"]}'``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from tracksolid_hook.values import parse_time
from tracksolid_simulator.config import SimulatorConfig
from tracksolid_simulator.faults import FaultSpec
from tracksolid_simulator.fleet import Fleet
from tracksolid_simulator.push import send_push
from tracksolid_simulator.server import SimulatorServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tracksolid_simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the simulated Tracksolid API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--devices", type=int, default=160)
    serve.add_argument("--accounts", type=int, default=3)
    serve.add_argument("--seed", type=int, default=1)
    serve.add_argument("--token-ttl", type=int, default=7200)
    serve.add_argument("--imei-cap", type=int, default=50)
    serve.add_argument("--max-rps", type=float, default=None, help="requests per second (token bucket)")
    serve.add_argument("--burst", type=int, default=10)
    serve.add_argument("--daily-quota", type=int, default=None)
    serve.add_argument("--missing-ratio", type=float, default=0.0, help="devices missing from location.list")
    serve.add_argument("--clock-start", default=None, help="simulated start time (ISO-8601, UTC)")
    serve.add_argument("--clock-speed", type=float, default=1.0)
    serve.add_argument("--fault", action="append", default=[], metavar="METHOD=SPEC_JSON")
    push = sub.add_parser("push", help="send the fleet's truth as webhook traffic")
    push.add_argument("--url", required=True, help="receiver base URL (iothub) or full URL (pro)")
    push.add_argument("--start", required=True)
    push.add_argument("--end", required=True)
    push.add_argument("--format", choices=("iothub", "pro"), default="iothub")
    push.add_argument("--token", default=os.environ.get("SIM_PUSH_TOKEN"))
    push.add_argument("--replay-ratio", type=float, default=0.0)
    push.add_argument("--devices", type=int, default=160)
    push.add_argument("--accounts", type=int, default=3)
    push.add_argument("--seed", type=int, default=1)
    return parser


def _serve(args) -> int:
    overrides = {}
    if os.environ.get("SIM_APP_KEY"):
        overrides["app_key"] = os.environ["SIM_APP_KEY"]
    if os.environ.get("SIM_APP_SECRET"):
        overrides["app_secret"] = os.environ["SIM_APP_SECRET"]
    if os.environ.get("SIM_ACCOUNT_PASSWORDS"):
        overrides["account_passwords"] = os.environ["SIM_ACCOUNT_PASSWORDS"].split(",")
    cfg = SimulatorConfig(
        devices=args.devices, accounts=args.accounts, seed=args.seed, token_ttl_s=args.token_ttl,
        imei_cap=args.imei_cap, max_requests_per_s=args.max_rps, burst=args.burst,
        daily_quota=args.daily_quota, location_missing_ratio=args.missing_ratio,
        clock_start=parse_time(args.clock_start) if args.clock_start else None,
        clock_speed=args.clock_speed, **overrides)
    server = SimulatorServer(Fleet(cfg), cfg)
    for item in args.fault:
        method, _, spec = item.partition("=")
        server.set_faults(method, FaultSpec.from_dict(json.loads(spec)))
    server.start(port=args.port, host=args.host)
    print(json.dumps({"url": server.url, "app_key": cfg.app_key, "app_secret": cfg.app_secret,
                      "accounts": [{"account": a, "password": p} for a, p in cfg.account_credentials()]}),
          flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _push(args) -> int:
    if args.format == "iothub" and not args.token:
        print("--token (or SIM_PUSH_TOKEN) is required for the iothub format", file=sys.stderr)
        return 2
    fleet = Fleet(SimulatorConfig(devices=args.devices, accounts=args.accounts, seed=args.seed))
    reqs = fleet.push_requests(parse_time(args.start), parse_time(args.end), fmt=args.format,
                               replay_ratio=args.replay_ratio, token=args.token)
    results = send_push(args.url, reqs)
    failed = [status for status, _ in results if status >= 300]
    print(json.dumps({"requests": len(results), "failed": len(failed)}))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return _serve(args) if args.command == "serve" else _push(args)
