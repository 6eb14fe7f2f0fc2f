"""docker-compose.yaml, checked without a Docker engine (none runs on these machines).

The file is parsed and interpolated the way Compose does it, against `.env.example` filled with random
secrets: every image or build exists, every variable is declared, no secret is written in the file, the
services of SPEC §2 exist with healthchecks, and every repo path it mounts or runs exists. The Compose
Specification's JSON schema validates it in ``test_compose_schema.py``; where the Docker client's compose
plugin is installed, ``docker compose config -q`` validates it too (the end-of-life v1 ``docker-compose`` is
not used: it rejects the top-level ``name``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
PROJECT_MOUNT = "/opt/airflow/project"

#: Services SPEC §2 and the official Airflow 3.3.2 compose file require.
REQUIRED_SERVICES = {
    "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
    "airflow-triggerer", "redis", "airflow-postgres", "timescaledb", "grafana", "webhook", "rustfs", "simulator",
    "fleet-init",
}
#: Variable names that hold a secret: never a default, never a value in .env.example.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|ACCESS_KEY|APP_KEY")
#: `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}`, `${NAME?message}`, `$NAME`; `$$` escapes.
VAR = re.compile(r"\$(?:\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>\w+)|(?P<escape>\$))")


class MissingVariable(ValueError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution (https://docs.docker.com/reference/compose-file/interpolation/)."""

    def substitute(match: re.Match) -> str:
        if match["escape"]:
            return "$"
        name = match["braced"] or match["bare"]
        value, op, arg = env.get(name), match["op"], match["arg"] or ""
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return interpolate(arg, env)
            return value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise MissingVariable(f"{name}: {arg}")
            return value
        return value or ""

    return VAR.sub(substitute, text)


def _strings(node):
    """Every string value of a parsed YAML document (Compose interpolates values, not keys or comments)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _interpolate_tree(node, env: dict[str, str]):
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(value, env) for value in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def variables_used() -> dict[str, set[str]]:
    """Every variable docker-compose.yaml references and the operators it is used with ('' = plain)."""
    used: dict[str, set[str]] = {}
    for text in _strings(load()):
        for match in VAR.finditer(text):
            name = match["braced"] or match["bare"]
            if name:
                used.setdefault(name, set()).add(match["op"] or "")
    return used


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def filled_env() -> dict[str, str]:
    """.env.example with a fresh random value for every empty (secret) entry — as an operator would fill it."""
    return {name: value or secrets.token_hex(12) for name, value in env_example().items()}


def load(env: dict[str, str] | None = None) -> dict:
    """docker-compose.yaml parsed; with ``env``, interpolated as Compose does."""
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return _interpolate_tree(raw, env) if env is not None else raw


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return filled_env()


@pytest.fixture(scope="module")
def compose(env) -> dict:
    return load(env)


def _environment(service: dict) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: "" if v is None else str(v) for k, v in raw.items()}


def _bind_mounts(service: dict) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        mounts.append((source, target))
    return mounts


def _repo_path_in_container(service: dict, container_path: str) -> Path | None:
    """Where ``container_path`` comes from in the repo, through the service's bind mounts."""
    for source, target in _bind_mounts(service):
        if source.startswith(".") and (container_path == target or container_path.startswith(target + "/")):
            return REPO / source / Path(container_path).relative_to(target)
    return None


def test_the_stack_has_every_service(compose):
    assert REQUIRED_SERVICES <= set(compose["services"])


def test_every_variable_is_declared_in_env_example():
    used = variables_used()
    declared = env_example()
    assert sorted(set(used) - set(declared)) == [], "used in docker-compose.yaml but missing from .env.example"
    assert sorted(set(declared) - set(used)) == [], "declared in .env.example but never used"


def test_secrets_come_only_from_env(env):
    used = variables_used()
    declared = env_example()
    secret_vars = {name for name in used if SECRET_NAME.search(name)}
    assert {"AIRFLOW_DB_PASSWORD", "TRACKSOLID_OWNER_PASSWORD", "GRAFANA_RO_PASSWORD", "AIRFLOW_FERNET_KEY",
            "WEBHOOK_IOTHUB_TOKEN", "S3_SECRET_KEY", "TRACKSOLID_APP_SECRET"} <= secret_vars
    for name in secret_vars:
        assert used[name] == {":?"}, f"{name} must be used as ${{{name}:?message}} (required, no default)"
        assert declared[name] == "", f".env.example must leave {name} empty, not ship a value"
    # Every environment entry that names a secret is a reference, not a value.
    raw = load()
    for service_name, service in raw["services"].items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                literal = re.sub(r"\$\{\w+:\?[^}]*\}", "", value)
                assert value != literal and not literal.strip(", "), f"{service_name}.{key} holds a literal: {value!r}"
    # URLs with credentials: the password part is a reference.
    for match in (m for text in _strings(raw) for m in re.finditer(r"://[^:/\s\"']*:([^@\s\"']+)@", text)):
        assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", match[1]), f"literal password in URL: {match[0]}"


def test_airflow_connections_are_valid_json_built_from_env(compose, env):
    worker = _environment(compose["services"]["airflow-worker"])
    conns = {name: json.loads(worker[name]) for name in (
        "AIRFLOW_CONN_TRACKSOLID_DB", "AIRFLOW_CONN_TRACKSOLID_DWH", "AIRFLOW_CONN_FLEET_S3",
        "AIRFLOW_CONN_TRACKSOLID_API")}
    assert conns["AIRFLOW_CONN_TRACKSOLID_DB"] == {
        "conn_type": "postgres", "host": env["FLEET_LIVE_DB_HOST"], "port": int(env["FLEET_LIVE_DB_PORT"]),
        "login": "tracksolid_owner", "password": env["TRACKSOLID_OWNER_PASSWORD"], "schema": "tracksolid_db"}
    assert conns["AIRFLOW_CONN_TRACKSOLID_DWH"]["password"] == env["DWH_OWNER_PASSWORD"]
    assert conns["AIRFLOW_CONN_TRACKSOLID_DWH"]["schema"] == "tracksolid_dwh"
    s3 = conns["AIRFLOW_CONN_FLEET_S3"]
    assert (s3["conn_type"], s3["login"], s3["password"]) == ("aws", env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"])
    assert s3["extra"]["endpoint_url"] == env["S3_ENDPOINT_URL"]
    api = conns["AIRFLOW_CONN_TRACKSOLID_API"]
    assert api["conn_type"] == "tracksolid"
    assert (api["extra"]["app_key"], api["extra"]["app_secret"]) == (env["TRACKSOLID_APP_KEY"],
                                                                      env["TRACKSOLID_APP_SECRET"])
    # The same connections on every Airflow service.
    airflow_services = [s for s in compose["services"].values() if "AIRFLOW__CORE__EXECUTOR" in _environment(s)]
    assert len(airflow_services) == 6
    for service in airflow_services:
        service_env = _environment(service)
        for conn in conns:
            assert service_env[conn] == worker[conn], conn


def test_a_missing_secret_stops_compose(env):
    for name in ("AIRFLOW_DB_PASSWORD", "GRAFANA_RO_PASSWORD", "WEBHOOK_IOTHUB_TOKEN"):
        partial = {k: v for k, v in env.items() if k != name}
        with pytest.raises(MissingVariable, match=name):
            load(partial)
        with pytest.raises(MissingVariable, match=name):
            load({**env, name: ""})


def test_every_image_or_build_exists(compose):
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, f"{name} has neither image nor build"
        if "build" in service:
            build = service["build"]
            context = REPO / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            assert re.search(r"^FROM apache/airflow:3\.3\.2\s*$", dockerfile.read_text(), re.M), dockerfile
        if "image" in service and "build" not in service:
            image = service["image"]
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: image {image!r} has no tag"
            assert not image.endswith(":latest"), f"{name}: pin a version, not {image}"


def test_paths_and_volumes_exist(compose):
    named = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for source, _target in _bind_mounts(service):
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: mounts {source}, which is not in the repo"
            else:
                assert source in named, f"{name}: named volume {source} is not declared"
    # The Python services see the repo at PROJECT_MOUNT, which the Dockerfile installs (pip install -e).
    for name in ("fleet-init", "webhook", "simulator", "airflow-worker", "airflow-dag-processor"):
        assert _repo_path_in_container(compose["services"][name], PROJECT_MOUNT) == REPO / ".", name
    airflow_env = _environment(compose["services"]["airflow-scheduler"])
    for key in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER"):
        path = _repo_path_in_container(compose["services"]["airflow-scheduler"], airflow_env[key])
        assert path is not None and path.is_dir(), f"{key} = {airflow_env[key]} is not a repo folder"
    init = compose["services"]["fleet-init"]
    script = _repo_path_in_container(init, init["entrypoint"][-1])
    assert script is not None and script.is_file(), "fleet-init runs a script that is not in the repo"


def test_commands_reference_existing_modules(compose):
    """What the webhook and simulator services run exists in the repo (files of the other components)."""
    webhook = compose["services"]["webhook"]
    command = webhook["entrypoint"] + webhook["command"]
    assert "gunicorn" in command
    module, attribute = command[-1].split(":")  # the WSGI target, e.g. webhook_service.wsgi:app
    source = REPO / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"webhook: WSGI module {module} is missing"
    assert f"{attribute} =" in source.read_text(), f"webhook: {module} defines no {attribute}"
    conf = command[command.index("-c") + 1]
    assert (REPO / conf).is_file(), f"webhook: {conf} is missing"
    assert (REPO / "include" / "tracksolid_simulator" / "__main__.py").is_file(), "python -m tracksolid_simulator"


def test_healthchecks_and_start_order(compose):
    services = compose["services"]
    one_shot = {name for name, s in services.items() if str(s.get("restart", "no")) == "no"}
    assert one_shot == {"fleet-init", "airflow-init"}
    for name, service in services.items():
        if name not in one_shot:
            test = (service.get("healthcheck") or {}).get("test")
            assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy: it has no healthcheck"
            elif condition == "service_completed_successfully":
                assert dep in one_shot, f"{name} waits for {dep} to complete, but {dep} never exits"
    # The databases are initialised before anything uses them.
    for name in ("airflow-scheduler", "airflow-worker", "webhook", "grafana"):
        assert services[name]["depends_on"]["fleet-init"]["condition"] == "service_completed_successfully"
    assert services["fleet-init"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"


def test_webhook_grafana_and_timescaledb_blocks(compose, env):
    webhook = compose["services"]["webhook"]
    webhook_env = _environment(webhook)
    assert {"WEBHOOK_DATABASE_URL", "WEBHOOK_IOTHUB_TOKEN", "WEBHOOK_PRO_PATH_SECRET"} <= set(webhook_env)
    assert "password" not in webhook_env["WEBHOOK_DATABASE_URL"]  # libpq takes it from PGPASSWORD
    assert webhook_env["PGPASSWORD"] == env["TRACKSOLID_OWNER_PASSWORD"]
    assert any(str(p).endswith(":8000") for p in webhook["ports"])

    grafana = compose["services"]["grafana"]
    assert _repo_path_in_container(grafana, "/etc/grafana/provisioning") == REPO / "grafana" / "provisioning"
    assert _environment(grafana)["GRAFANA_RO_PASSWORD"] == env["GRAFANA_RO_PASSWORD"]

    tsdb = compose["services"]["timescaledb"]
    assert tsdb["image"].startswith("timescale/timescaledb-ha:pg16")
    init_env = _environment(compose["services"]["fleet-init"])
    for var in ("TRACKSOLID_OWNER_PASSWORD", "DWH_OWNER_PASSWORD", "GRAFANA_RO_PASSWORD"):
        assert init_env[var] == env[var]
    assert init_env["PGPASSWORD"] == _environment(tsdb)["POSTGRES_PASSWORD"]
    script = (REPO / "docker" / "fleet_init.sh").read_text()
    steps = ["fleet_db.admin create-databases", "fleet_db.migrations", "fleet_db.admin set-passwords"]
    positions = [script.index(step) for step in steps]
    assert positions == sorted(positions), "databases, then migrations (they create the roles), then passwords"


def _compose_cli() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def test_compose_config_validates(tmp_path, env):
    cli = _compose_cli()
    if cli is None:
        reason = "the docker client has no compose plugin" if shutil.which("docker") else "no docker client"
        pytest.skip(f"{reason}: `docker compose config -q` not run (test_compose_schema.py validates the file)")
    compose_file = COMPOSE
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))

    def config(env_path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*cli, "-f", str(compose_file), "--project-directory", str(REPO), "--env-file", str(env_path),
             "--profile", "simulator", "config", "-q"],
            capture_output=True, text=True, timeout=120,
        )

    result = config(env_file)
    assert result.returncode == 0, result.stderr
    missing = tmp_path / "missing.env"
    missing.write_text("".join(f"{k}={v}\n" for k, v in env.items() if k != "REDIS_PASSWORD"))
    result = config(missing)
    assert result.returncode != 0 and "REDIS_PASSWORD" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_simulator_service_accepts_the_api_connection(compose, env):
    """Run the simulator service's own command and environment (on loopback) and log in with the
    ``tracksolid_api`` connection the Airflow services get: the two halves of the compose wiring agree."""
    from tracksolid_simulator.client import SimpleClient

    service = compose["services"]["simulator"]
    args = service["entrypoint"][1:] + service["command"]  # ["-m", "tracksolid_simulator", "serve", ...]
    port = _free_port()
    for flag, value in (("--host", "127.0.0.1"), ("--port", str(port))):
        args[args.index(flag) + 1] = value
    conn = json.loads(_environment(compose["services"]["airflow-worker"])["AIRFLOW_CONN_TRACKSOLID_API"])
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, env={**os.environ, **_environment(service)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/_sim/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, f"simulator exited: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "simulator did not become healthy"
            time.sleep(0.2)
        assert conn["host"].endswith(":8090/route/rest")
        client = SimpleClient(f"{base}/route/rest", conn["extra"]["app_key"], conn["extra"]["app_secret"])
        login = client.login(conn["login"], conn["password"])
        assert login.get("code") == 0, login
        targets = conn["extra"]["targets"].split(",")
        assert len(targets) == 3
        for target in targets:
            listing = client.call("jimi.user.device.list", target=target)
            assert listing.get("code") == 0 and listing["result"], f"{target}: {listing}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
