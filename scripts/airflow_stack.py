"""Airflow as production runs it, on this machine: api-server, scheduler, dag-processor and triggerer with the
LocalExecutor, after ``airflow db migrate`` and ``scripts/airflow_init.py`` (the pool and connections set-up
the compose ``airflow-init`` service runs). Contract C6: used by ``make up``, the real-scheduler test
(``tests/test_airflow_stack.py``) and benchmarks.

    with AirflowStack(home, env={...}, metadata_db="postgres") as stack:   # start() ... stop()
        stack.unpause("tracksolid_devices")
        run_id = stack.trigger("dwh_bronze", conf={...})
        assert stack.wait_for_run("dwh_bronze", run_id) == "success"

Every component runs in its own process session; :meth:`AirflowStack.stop` sends SIGTERM to each component
**and every process below it** (LocalExecutor workers, task supervisors, uvicorn), waits, then SIGKILLs what is
left — nothing keeps holding the API port. ``metadata_db="postgres"`` creates a fresh database on the local
server (``FLEET_PG_ADMIN_DSN``, default ``postgresql://postgres@127.0.0.1:5432/postgres``) and drops it on
stop; ``"sqlite"`` keeps ``$AIRFLOW_HOME/airflow.db``.

Run alone (``python -m scripts.airflow_stack --port 8080``) it serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TERMINAL_RUN_STATES = {"success", "failed"}

log = logging.getLogger("airflow_stack")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def terminate_tree(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM a component and every process below it; SIGKILL whatever is left after ``timeout``."""
    import psutil

    if proc.poll() is not None and not _descendants(proc.pid):
        return
    family = [*_descendants(proc.pid)]
    try:
        family.insert(0, psutil.Process(proc.pid))
    except psutil.NoSuchProcess:
        pass
    for p in family:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs(family, timeout=timeout)
    # Processes started while we waited (e.g. a task supervisor) and the stragglers.
    alive = {p.pid: p for p in alive}
    for p in _descendants(proc.pid):
        alive.setdefault(p.pid, p)
    for p in alive.values():
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(alive.values()), timeout=10)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


class StackError(RuntimeError):
    pass


class AirflowStack:
    """One Airflow deployment: metadata DB, init, the four components; see the module docstring."""

    def __init__(self, home: Path, *, env: dict[str, str] | None = None, init_env: dict[str, str] | None = None,
                 metadata_db: str = "postgres", port: int | None = None, host: str = "127.0.0.1",
                 dags_folder: Path | None = None, parallelism: int = 4, all_admins: bool = True,
                 admin_dsn: str | None = None, log_to_files: bool = True) -> None:
        if metadata_db not in ("postgres", "sqlite"):
            raise ValueError("metadata_db is 'postgres' or 'sqlite'")
        self.home = Path(home)
        self.port = port or free_port()
        self.host = host
        self.metadata_db = metadata_db
        self.admin_dsn = admin_dsn or os.environ.get("FLEET_PG_ADMIN_DSN") or DEFAULT_ADMIN_DSN
        self.db_name: str | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.init_env = dict(init_env or {})
        self.log_to_files = log_to_files
        self._token: str | None = None
        self.env = self._base_env(dags_folder or REPO / "dags", parallelism, all_admins)
        self.env.update(env or {})

    # --- environment ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _base_env(self, dags_folder: Path, parallelism: int, all_admins: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        env.pop("AIRFLOW_HOME", None)
        path = env.get("PYTHONPATH", "")
        include = f"{REPO / 'include'}{os.pathsep}{REPO}"
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": f"{include}{os.pathsep}{path}" if path else include,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API__HOST": self.host,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            # The log servers of the task runners and the triggerer: free ports, not the fixed defaults.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(all_admins),
            # New DAG files are noticed within seconds, not the 5-minute default.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        })
        return env

    def airflow(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run an ``airflow`` CLI command against this deployment."""
        result = subprocess.run([str(BIN / "airflow"), *args], env=self.env, cwd=REPO, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}")
        return result

    # --- lifecycle -----------------------------------------------------------------------------------
    def _create_metadata_db(self) -> None:
        if self.metadata_db == "sqlite":
            self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{self.home / 'airflow.db'}"
            return
        import psycopg2
        from psycopg2.extensions import make_dsn, parse_dsn

        self.db_name = f"airflow_stack_{uuid.uuid4().hex[:12]}"
        conn = psycopg2.connect(self.admin_dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.db_name}"')
        finally:
            conn.close()
        params = parse_dsn(make_dsn(self.admin_dsn))
        user = params.get("user", "postgres")
        password = f":{params['password']}" if params.get("password") else ""
        host, port = params.get("host", "127.0.0.1"), params.get("port", "5432")
        self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
            f"postgresql+psycopg2://{user}{password}@{host}:{port}/{self.db_name}")

    def _drop_metadata_db(self) -> None:
        if not self.db_name:
            return
        import psycopg2

        conn = psycopg2.connect(self.admin_dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        finally:
            conn.close()
        self.db_name = None

    def start(self, timeout: float = 240) -> AirflowStack:
        """Migrate, init (pool + connections), start the components, wait until the API answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        try:
            self._create_metadata_db()
            self.airflow("db", "migrate", timeout=timeout)
            init = subprocess.run([sys.executable, str(REPO / "scripts" / "airflow_init.py")],
                                  env={**self.env, **self.init_env}, cwd=REPO, capture_output=True, text=True,
                                  timeout=timeout)
            if init.returncode != 0:
                raise StackError(f"airflow_init.py exited {init.returncode}: {init.stderr[-2000:]}")
            log.info("%s", init.stderr.strip())
            for component in COMPONENTS:
                self._spawn(component)
            self.wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, component: str) -> None:
        args = [str(BIN / "airflow"), *component.split()]
        if self.log_to_files:
            out = open(self.home / "logs" / f"{component}.log", "ab")  # noqa: SIM115 - closed with the process
        else:
            out = None
        # Its own session: a terminal's Ctrl-C reaches only this supervisor, which stops everything in order.
        self.processes[component] = subprocess.Popen(args, env=self.env, cwd=REPO, stdout=out,
                                                     stderr=subprocess.STDOUT if out else None,
                                                     start_new_session=True)
        if out is not None:
            out.close()

    def wait_until_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                if requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise StackError(f"the API server did not answer on {self.base_url} within {timeout:.0f}s")
            time.sleep(1)

    def check_alive(self) -> None:
        for component, proc in self.processes.items():
            if proc.poll() is not None:
                raise StackError(f"airflow {component} exited with {proc.returncode}; "
                                 f"see {self.component_log(component)}")

    def component_log(self, component: str) -> Path:
        return self.home / "logs" / f"{component}.log"

    def stop(self, timeout: float = 30) -> None:
        """Stop every component and everything it started; drop a Postgres metadata database."""
        import threading

        # The scheduler, triggerer and DAG processor together, the API server last (they report to it).
        workers = [threading.Thread(target=terminate_tree, args=(proc, timeout))
                   for name, proc in self.processes.items() if name != "api-server"]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        api = self.processes.get("api-server")
        if api is not None:
            terminate_tree(api, timeout)
        self.processes.clear()
        self._drop_metadata_db()

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- REST API ------------------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            response = requests.get(f"{self.base_url}/auth/token", timeout=30)
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs) -> Any:
        response = requests.request(method, f"{self.base_url}/api/v2/{path.lstrip('/')}",
                                    headers={"Authorization": f"Bearer {self.token()}"}, timeout=30, **kwargs)
        if not response.ok:
            raise StackError(f"{method} {path}: {response.status_code} {response.text[:1000]}")
        return response.json() if response.content else None

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        """Until the DAG processor has parsed and stored these DAGs."""
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while missing:
            self.check_alive()
            for dag_id in list(missing):
                try:
                    self.api("GET", f"dags/{dag_id}")
                    missing.discard(dag_id)
                except StackError:
                    pass
            if missing and time.monotonic() > deadline:
                errors = self.api("GET", "importErrors").get("import_errors", [])
                raise StackError(f"DAGs not parsed within {timeout:.0f}s: {sorted(missing)}; import errors {errors}")
            if missing:
                time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None,
                run_after: str | None = None) -> str:
        """A manual run; an early ``run_after`` puts it ahead of runs the scheduler queues meanwhile."""
        body: dict[str, Any] = {"conf": conf or {}, "logical_date": logical_date}
        if run_after:
            body["run_after"] = run_after
        return self.api("POST", f"dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def delete_run(self, dag_id: str, run_id: str) -> None:
        self.api("DELETE", f"dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "run_after"})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                        params={"limit": 1000})["task_instances"]

    def wait_for_run(self, dag_id: str, run_id: str | None = None, timeout: float = 300,
                     run_type: str | None = None) -> dict:
        """Until a run ends (``run_id``, or the first run of ``run_type``); returns the run."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            for run in self.runs(dag_id):
                if (run_id and run["dag_run_id"] == run_id) or (not run_id and run["run_type"] == run_type):
                    if run["state"] in TERMINAL_RUN_STATES:
                        return run
            if time.monotonic() > deadline:
                raise StackError(f"{dag_id} {run_id or run_type}: not finished within {timeout:.0f}s "
                                 f"({[(r['dag_run_id'], r['state']) for r in self.runs(dag_id)]})")
            time.sleep(2)


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=REPO / ".airflow" / "stack")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--metadata-db", choices=("postgres", "sqlite"), default="sqlite")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stack = AirflowStack(args.home, port=args.port, metadata_db=args.metadata_db, all_admins=False,
                         log_to_files=False)
    run_until_signalled(stack)
    return 0


def run_until_signalled(stack: AirflowStack, extra: list[subprocess.Popen] | None = None) -> None:
    """Start the stack, serve until Ctrl-C or SIGTERM (or a component dies), then stop everything."""
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in stop_signals}

    def _raise(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for s in stop_signals:
        signal.signal(s, _raise)
    try:
        stack.start()
        print(f"Airflow: {stack.base_url} — Ctrl-C (or SIGTERM) stops everything", flush=True)
        while True:
            stack.check_alive()
            if extra and any(p.poll() is not None for p in extra):
                break
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for s in stop_signals:  # a second signal must not interrupt the shutdown
            signal.signal(s, signal.SIG_IGN)
        for proc in extra or []:
            terminate_tree(proc)
        stack.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
