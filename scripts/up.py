"""`make up`: Airflow standalone (UI on :8080) + the Tracksolid simulator + the webhook service, for a person
to click through. Ctrl-C stops everything.

The databases are created and migrated first (same runner as the demo). Connections are passed to Airflow as
`AIRFLOW_CONN_*` environment values; the `tracksolid_api` pool is created before the scheduler starts.
The UI admin password is printed by Airflow and kept in
`.airflow/up/simple_auth_manager_passwords.json.generated`.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = REPO / ".airflow" / "up"
BIN = Path(sys.executable).parent

# Same pool size as the endpoint DAGs assume (fleet_ingest.settings.API_POOL_SLOTS).
API_POOL = ("tracksolid_api", "4", "Concurrent Tracksolid API calls (the platform refuses bursts: 1006)")


def main() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    import demo  # reuses the database and service start-up of `make demo`

    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    env.update({
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "PATH": f"{BIN}:{env.get('PATH', '')}",
    })
    env.pop("AIRFLOW__LOGGING__LOGGING_LEVEL", None)
    os.environ.update(env)

    demo.prepare_databases()
    simulator = demo.start_simulator()
    s3 = demo.start_object_store()
    env.update({k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_") or k.startswith("FLEET_")})

    # The webhook service on :8000 with a token generated for this session (printed once, never stored).
    iothub_token = env.setdefault("WEBHOOK_IOTHUB_TOKEN", secrets.token_urlsafe(24))
    env.setdefault("WEBHOOK_PRO_PATH_SECRET", secrets.token_urlsafe(16))
    env.setdefault("WEBHOOK_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tracksolid_db")
    processes = [
        subprocess.Popen([str(BIN / "gunicorn"), "-c", str(REPO / "webhook_service" / "gunicorn.conf.py"),
                          "--bind", "127.0.0.1:8000", "webhook_service:create_app()"], env=env, cwd=REPO),
    ]
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([str(BIN / "airflow"), "pools", "set", *API_POOL], env=env, check=True, capture_output=True)
    processes.append(subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, cwd=REPO))
    token_file = AIRFLOW_HOME / "webhook_iothub_token"
    token_file.write_text(iothub_token)
    token_file.chmod(0o600)
    print(f"webhook service: http://127.0.0.1:8000 (IoT-Hub token for this session in {token_file})")
    print("Airflow UI: http://127.0.0.1:8080 — Ctrl-C stops everything", flush=True)
    # SIGTERM (e.g. from a supervisor) stops everything the same way as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if simulator is not None:
            simulator.stop()
        if s3 is not None:
            s3.stop()


if __name__ == "__main__":
    main()
