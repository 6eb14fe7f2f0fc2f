"""`make up`: Airflow as production runs it (api-server with the UI on :8080, scheduler, dag-processor,
triggerer; LocalExecutor — scripts/airflow_stack.py) + the Tracksolid simulator + the webhook service, for a
person to click through. Ctrl-C **or SIGTERM** stops every process it started, Airflow's workers included.

The databases are created and migrated first (same runner as the demo). Connections are passed to Airflow as
`AIRFLOW_CONN_*` environment values and stored in the metadata database by scripts/airflow_init.py (the
script compose's airflow-init runs), which also creates the `tracksolid_api` pool (TRACKSOLID_API_POOL_SLOTS,
default 4). The UI user is `admin`; its password is generated on first start and kept in
`.airflow/up/simple_auth_manager_passwords.json.generated`. DAGs start paused.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = REPO / ".airflow" / "up"
BIN = Path(sys.executable).parent


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    import demo  # reuses the database and service start-up of `make demo`
    from airflow_stack import AirflowStack, run_until_signalled, terminate_tree

    # From the first moment, Ctrl-C and SIGTERM unwind through the `finally` below.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    simulator = s3 = None
    processes: list[subprocess.Popen] = []
    try:
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
        env.update({k: v for k, v in os.environ.items() if k.startswith(("AIRFLOW_CONN_", "FLEET_"))})

        # The webhook service on :8000 with a token generated for this session (printed once, never stored).
        iothub_token = env.setdefault("WEBHOOK_IOTHUB_TOKEN", secrets.token_urlsafe(24))
        env.setdefault("WEBHOOK_PRO_PATH_SECRET", secrets.token_urlsafe(16))
        env.setdefault("WEBHOOK_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tracksolid_db")
        processes.append(subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(REPO / "webhook_service" / "gunicorn.conf.py"),
             "--bind", "127.0.0.1:8000", "webhook_service:create_app()"], env=env, cwd=REPO))
        token_file = AIRFLOW_HOME / "webhook_iothub_token"
        token_file.write_text(iothub_token)
        token_file.chmod(0o600)
        print(f"webhook service: http://127.0.0.1:8000 (IoT-Hub token for this session in {token_file})")
        print(f"Airflow UI: http://127.0.0.1:8080 — user admin, password in "
              f"{AIRFLOW_HOME / 'simple_auth_manager_passwords.json.generated'}", flush=True)

        stack = AirflowStack(AIRFLOW_HOME, port=8080, metadata_db="sqlite", all_admins=False, log_to_files=False,
                             env={k: v for k, v in env.items() if not k.startswith("AIRFLOW__")})
        # Serves until Ctrl-C or SIGTERM (or a process dies); then stops every Airflow process and the webhook.
        run_until_signalled(stack, extra=processes)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in processes:
            terminate_tree(proc)
        if simulator is not None:
            simulator.stop()
        if s3 is not None:
            s3.stop()


if __name__ == "__main__":
    main()
