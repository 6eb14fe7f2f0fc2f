"""The ``tracksolid_api`` Airflow connection (JSON form, typed extras) for a running simulator.

Used by the demo, ``make up`` and the test fixtures. The credentials are the simulator's own throw-away
values, generated per run.
"""

from __future__ import annotations

import json

from tracksolid_simulator.server import SimulatorServer


def connection_json(server: SimulatorServer, *, batch_size: int = 50, max_requests_per_s: float = 20.0,
                    timeout_s: float = 10.0, **extra) -> str:
    """``AIRFLOW_CONN_TRACKSOLID_API`` value pointing at ``server``; ``extra`` adds connection extras."""
    cfg = server.cfg
    (head, password), *_ = cfg.account_credentials()
    return json.dumps({
        "conn_type": "tracksolid",
        "host": server.url,
        "login": head,
        "password": password,
        "extra": {
            "app_key": cfg.app_key,
            "app_secret": cfg.app_secret,
            "targets": cfg.account_names(),
            "batch_size": batch_size,
            "token_ttl_s": cfg.token_ttl_s,
            "max_requests_per_s": max_requests_per_s,
            "timeout_s": timeout_s,
            **extra,
        },
    })
