"""Secrets never leak: not in logs, ingestion_log, XComs, rendered fields or the repository.

Secrets of realistic length (a 32-hex app secret as Jimi issues them, 20-character account passwords, the
32-hex tokens the platform hands out) go through real ``dag.test()`` runs of the devices and alarms DAGs while
the simulator revokes tokens, rate-limits, fails with 5xx and truncates bodies — the error paths are where a
secret would slip into a message. Afterwards every place a value can end up is searched for every secret, and
for the MD5 of each password (what the token request carries). ``api_token_cache`` holds the live token by
design and is the one place not searched. The repository scan (``scripts/scan_secrets.py``) runs over every
tracked file, and is shown to catch planted secrets of each kind it knows.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2

from tests.conftest import REPO_ROOT
from tests.fixtures.simulator import tracksolid_conn_json
from tests.reliability.endpoint_runs import run_dag
from tracksolid_hook.signing import password_md5
from tracksolid_simulator import FaultSpec

SIM_NOW = datetime(2024, 5, 7, 12, 0, tzinfo=UTC)
COMMAND = "pytest tests/reliability/test_secrets.py"
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import scan_secrets  # noqa: E402


def _text_of_table(conn, query: str) -> str:
    with conn.cursor() as cur:
        cur.execute(query)
        return "\n".join(str(row) for row in cur.fetchall())


def _airflow_rows(query: str, run_ids: list[str]) -> str:
    """Rows of an Airflow metadata query over the given runs (``:ids``), as text."""
    from airflow.utils.session import create_session
    from sqlalchemy import bindparam, text

    with create_session() as session:
        statement = text(query).bindparams(bindparam("ids", expanding=True))
        return "\n".join(str(tuple(row)) for row in session.execute(statement, {"ids": run_ids}))


def test_no_secret_in_logs_audit_xcoms_or_rendered_fields(dagbag, airflow_db, airflow_db_conns, simulator_factory,
                                                          monkeypatch, tmp_path, caplog, record_figure):
    app_secret = secrets.token_hex(16)  # 32 hex characters
    passwords = [secrets.token_urlsafe(15) for _ in range(2)]  # 20 characters
    server = simulator_factory(clock_start=SIM_NOW, clock_speed=0, devices=6, accounts=2, seed=11,
                               app_secret=app_secret, account_passwords=passwords)
    monkeypatch.setenv("TRACKSOLID_RATE_LIMIT_DIR", str(tmp_path / "rate"))
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", tracksolid_conn_json(
        server, max_requests_per_s=200.0, timeout_s=2.0, backoff_base_s=0.05, backoff_cap_s=0.2))
    server.set_faults("*", FaultSpec(sequence=["1004", "1006", "http500", "truncate", "-1", "1004"]))
    window = {"start": (SIM_NOW - timedelta(days=1)).isoformat(), "end": SIM_NOW.isoformat()}
    caplog.set_level("DEBUG")

    runs = [run_dag(dagbag, "tracksolid_devices", conf=window), run_dag(dagbag, "tracksolid_alarms", conf=window)]
    # and a failing run: a wrong (realistic) secret, refused by the platform, reported by the task
    wrong_secret = secrets.token_hex(16)
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", tracksolid_conn_json(
        server, max_requests_per_s=200.0, timeout_s=2.0, app_secret=wrong_secret))
    from airflow.utils.state import DagRunState

    runs.append(run_dag(dagbag, "tracksolid_devices", conf=window, expect=DagRunState.FAILED))
    assert "'app_secret'" in caplog.text

    tokens = [t for token in server.app.tokens.values() for t in (token.access_token, token.refresh_token)]
    assert len(tokens) >= 4  # at least two tokens were issued (one revoked mid-run, renewed)
    values = {"app secret": [app_secret, wrong_secret], "account password": passwords,
              "password MD5": [password_md5(p) for p in passwords], "access/refresh token": tokens}
    assert all(len(v) >= 20 for group in values.values() for v in group)

    live = psycopg2.connect(airflow_db_conns["tracksolid_db"])
    try:
        places = {
            "task and hook logs": caplog.text,
            "ingestion_log": _text_of_table(live, "SELECT t::text FROM tracksolid.ingestion_log t"),
            "other live tables": _text_of_table(live, "SELECT d::text FROM tracksolid.devices d UNION ALL "
                                                      "SELECT a::text FROM tracksolid.alarms a"),
        }
        with live.cursor() as cur:
            cur.execute("SELECT count(*) FROM tracksolid.ingestion_log")
            audited = cur.fetchone()[0]
    finally:
        live.close()
    run_ids = [r.run_id for r in runs]
    places["XComs"] = _airflow_rows("SELECT dag_id, task_id, map_index, value FROM xcom WHERE run_id IN :ids",
                                    run_ids)
    places["rendered fields"] = _airflow_rows(
        "SELECT task_id, rendered_fields FROM rendered_task_instance_fields WHERE run_id IN :ids", run_ids)
    log_dir = Path(__import__("os").environ["AIRFLOW_HOME"]) / "logs"
    places["log files"] = "\n".join(p.read_text(errors="replace") for p in log_dir.rglob("*") if p.is_file()) \
        if log_dir.exists() else ""
    assert places["XComs"] and places["rendered fields"] and audited > 10  # there was something to search

    leaks = [f"{kind} in {place}" for place, text in places.items() for kind, group in values.items()
             for value in group if value in text]
    assert not leaks, leaks
    searched = sum(len(t) for t in places.values())
    record_figure("secret values searched for", sum(len(g) for g in values.values()), unit="values",
                  command=f"{COMMAND} -k logs")
    record_figure("text searched (logs, ingestion_log, XComs, rendered fields)", searched, unit="characters",
                  command=f"{COMMAND} -k logs")
    record_figure("secrets found", len(leaks), unit="leaks", command=f"{COMMAND} -k logs")


def test_repository_scan_finds_no_secret(record_figure):
    tracked = scan_secrets.tracked_files(REPO_ROOT)
    findings = scan_secrets.scan(REPO_ROOT)
    assert not findings, "\n".join(map(str, findings))
    record_figure("tracked files scanned for secrets", len(tracked), unit="files", command=f"{COMMAND} -k repository")
    record_figure("secrets found in the repository", 0, unit="findings", command=f"{COMMAND} -k repository")


def test_repository_scan_catches_planted_secrets(tmp_path, record_figure):
    hex32, word = secrets.token_hex(16), secrets.token_urlsafe(15)
    planted = {
        ".env": f"APP_SECRET={hex32}\n",
        "conn.py": f'extra = {{"app_secret": "{hex32}"}}\n',
        "settings.json": f'{{"password": "{word}A1"}}\n',
        "dsn.yaml": f"url: postgresql://grafana_ro:{word}9@db:5432/tracksolid_db\n",
        "aws.ini": "key = " + "AKIA" + "QWERTYUIOPASDFGH" + "\n",
        "id_key": "-----BEGIN " + "RSA PRIVATE KEY-----\n",
    }
    harmless = {
        "ok.py": 'password = os.environ["GRAFANA_RO_PASSWORD"]\nTOKEN_GET = "jimi.oauth.token.get"\n',
        "ok.env": "APP_SECRET=${APP_SECRET}\nGRAFANA_RO_PASSWORD=\n",
        "ok.yaml": "url: postgresql://user:${PASSWORD}@db/x\n",
    }
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name, text in {**planted, **harmless}.items():
        (tmp_path / name).write_text(text)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    findings = scan_secrets.scan(tmp_path)
    assert sorted({f.path for f in findings}) == sorted(planted)
    assert all(hex32 not in str(f) and word not in str(f) for f in findings)  # findings never print the value
    record_figure("planted secrets caught by the scan", f"{len({f.path for f in findings})} / {len(planted)}",
                  unit="files", command=f"{COMMAND} -k planted")
