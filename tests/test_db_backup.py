"""Backups: pg_dump → moto S3 → pg_restore into a scratch database, row counts compared; retention.

Ground truth for the round trip is the source databases' own row counts (filled by ``fill_live``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import psycopg2
import pytest

from fleet_db.settings import ADMIN_DSN
from fleet_dwh.objectstore import ObjectStore
from fleet_ops import backup, retention
from fleet_ops.pg import PgTarget
from tests.conftest import REPO_ROOT
from tests.fixtures.dwh import fill_live

RUN_AT = datetime(2026, 3, 4, 22, 30, tzinfo=UTC)  # 01:30 EAT on 5 March
RUN_DAY = date(2026, 3, 5)


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    dag = bag.dags[dag_id]
    for t in dag.tasks:  # dag.test() would wait out the retry delay
        t.retries = 0
    return dag


def _target(dsn: str) -> PgTarget:
    p = psycopg2.extensions.parse_dsn(dsn)
    return PgTarget(p.get("host", "127.0.0.1"), int(p.get("port", 5432)), p.get("user", "postgres"), p["dbname"])


def _counts(dsn: str) -> dict[str, int]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            return backup.table_counts(cur)
    finally:
        conn.close()


def _scratch_databases() -> list[str]:
    conn = psycopg2.connect(ADMIN_DSN)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'restore_check_%'")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


# --- retention: the pure decision ------------------------------------------------------------------------

def test_retention_keeps_daily_then_one_per_older_week():
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(90)]  # 1 Jan .. 31 Mar 2026
    decision = retention.plan(days, daily=14, weekly=8)
    newest14 = days[-14:]
    assert set(newest14) <= set(decision.keep)
    weekly = sorted(set(decision.keep) - set(newest14))
    assert len(weekly) == 8
    # Each kept weekly backup is the newest (Sunday) of its ISO week, in 8 consecutive older weeks.
    assert all(d.isoweekday() == 7 for d in weekly)
    assert [(b - a).days for a, b in zip(weekly, weekly[1:], strict=False)] == [7] * 7
    assert max(weekly) < min(newest14)
    assert set(decision.keep) | set(decision.delete) == set(days) and not set(decision.keep) & set(decision.delete)


def test_retention_counts_backups_not_calendar_days():
    # Backups stopped 30 days ago: the newest 14 that exist are still kept.
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(20)]
    decision = retention.plan(days, daily=14, weekly=0)
    assert decision.keep == days[-14:] and decision.delete == days[:6]
    assert retention.plan([], 14, 8).keep == []
    assert retention.plan(days[:3], 14, 8).delete == []
    with pytest.raises(ValueError):
        retention.plan(days, daily=0)


def test_retention_deletes_planted_objects_on_moto(fleet_s3):
    store = ObjectStore.from_connection(bucket=fleet_s3.bucket)
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(40)]
    for day in days:
        for key in (backup.dump_key("tracksolid_db", day), backup.manifest_key("tracksolid_db", day)):
            fleet_s3.client.put_object(Bucket=fleet_s3.bucket, Key=key, Body=b"x")
    others = ["backups/tracksolid_db/notes.txt", backup.dump_key("tracksolid_dwh", days[0])]
    for key in others:
        fleet_s3.client.put_object(Bucket=fleet_s3.bucket, Key=key, Body=b"x")

    dry = retention.apply(store, "tracksolid_db", daily=5, weekly=2, dry_run=True)
    assert len(fleet_s3.keys()) == 2 * len(days) + len(others) and dry["deleted"]
    done = retention.apply(store, "tracksolid_db", daily=5, weekly=2)
    expected = retention.plan(days, 5, 2).keep
    assert len(expected) == 7
    remaining = set(fleet_s3.keys())
    assert remaining == {backup.dump_key("tracksolid_db", d) for d in expected} | {
        backup.manifest_key("tracksolid_db", d) for d in expected} | set(others)
    assert len(done["deleted"]) == 2 * (len(days) - len(expected))


# --- the DAG round trip ----------------------------------------------------------------------------------

def test_backup_dag_round_trip_restores_identical_row_counts(airflow_db, airflow_db_conns, fleet_s3, live_conn,
                                                              notify_receivers):
    fill_live(live_conn)
    dag = _dag("db_backup")
    run = dag.test(logical_date=RUN_AT, run_conf={"bucket": fleet_s3.bucket})
    assert run.state == "success"
    for database, dsn in airflow_db_conns.items():
        keys = fleet_s3.keys(f"backups/{database}/")
        assert keys == [f"backups/{database}/{RUN_DAY}.dump", f"backups/{database}/{RUN_DAY}.json"]
        manifest = json.loads(fleet_s3.client.get_object(Bucket=fleet_s3.bucket, Key=keys[1])["Body"].read())
        assert manifest["tables"] == _counts(dsn)  # the source's own counts (nothing wrote in between)
        assert manifest["bytes"] == fleet_s3.client.head_object(Bucket=fleet_s3.bucket, Key=keys[0])["ContentLength"]
    assert json.loads(_manifest(fleet_s3, "tracksolid_db"))["tables"]["tracksolid.position_history"] == 60
    assert notify_receivers.mails == [] and _scratch_databases() == []
    # The DAG's restore_check compared the restored counts with these manifests: it passed (run success).


def _manifest(fleet_s3, database: str, day: date = RUN_DAY) -> bytes:
    return fleet_s3.client.get_object(Bucket=fleet_s3.bucket, Key=backup.manifest_key(database, day))["Body"].read()


def test_corrupted_newest_dump_fails_the_check_and_alerts(airflow_db, airflow_db_conns, fleet_s3, live_conn,
                                                          notify_receivers):
    fill_live(live_conn)
    store = ObjectStore.from_connection(bucket=fleet_s3.bucket)
    backup.dump_database(_target(airflow_db_conns["tracksolid_db"]), store, RUN_DAY - timedelta(days=1),
                         name="tracksolid_db")
    good = fleet_s3.client.get_object(Bucket=fleet_s3.bucket,
                                      Key=backup.dump_key("tracksolid_db", RUN_DAY - timedelta(days=1)))["Body"].read()
    # A newer backup whose dump is damaged in the middle (its manifest intact): the check must catch it.
    tomorrow = RUN_DAY + timedelta(days=1)
    mid = len(good) // 2
    damaged = good[:mid] + bytes(b ^ 0xFF for b in good[mid:mid + 64]) + good[mid + 64:]
    assert len(damaged) == len(good)
    fleet_s3.client.put_object(Bucket=fleet_s3.bucket, Key=backup.dump_key("tracksolid_db", tomorrow), Body=damaged)
    fleet_s3.client.put_object(Bucket=fleet_s3.bucket, Key=backup.manifest_key("tracksolid_db", tomorrow),
                               Body=_manifest(fleet_s3, "tracksolid_db", RUN_DAY - timedelta(days=1)))
    with pytest.raises(backup.RestoreCheckFailed, match="pg_restore|row counts differ"):
        backup.restore_check(_target(ADMIN_DSN), store, "tracksolid_db")
    assert _scratch_databases() == []

    dag = _dag("db_backup")
    run = dag.test(logical_date=RUN_AT, run_conf={"bucket": fleet_s3.bucket, "databases": ["tracksolid_db"]})
    assert run.state == "failed"
    notify_receivers.wait_for(mails=1, posts=1)
    assert len(notify_receivers.mails) == 1 and len(notify_receivers.posts) == 1  # one alert, not two
    mail = notify_receivers.mails[0]
    assert "db_backup" in mail["subject"] + mail["text"] and "restore_check" in mail["subject"] + mail["text"]
    assert "pg_restore" in mail["text"] or "row counts differ" in mail["text"]
    # Retention did not run after the failed check: every backup is still there.
    assert len(fleet_s3.keys("backups/tracksolid_db/")) == 6
    assert _scratch_databases() == []


def test_object_store_down_fails_cleanly_and_the_next_run_recovers(airflow_db, airflow_db_conns, restartable_s3,
                                                                   live_conn):
    fill_live(live_conn)
    restartable_s3.server.stop()
    store = ObjectStore.from_connection(bucket=restartable_s3.bucket)
    with pytest.raises(backup.BackupError, match=r"upload to s3://.*failed.*no backup was stored"):
        backup.dump_database(_target(airflow_db_conns["tracksolid_db"]), store, RUN_DAY, name="tracksolid_db")
    dag = _dag("db_backup")
    conf = {"bucket": restartable_s3.bucket, "databases": ["tracksolid_db"]}
    assert dag.test(logical_date=RUN_AT, run_conf=conf).state == "failed"

    restartable_s3.server.start()  # back (moto starts empty: the operator's bucket exists again)
    restartable_s3.client.create_bucket(Bucket=restartable_s3.bucket)
    assert dag.test(logical_date=RUN_AT + timedelta(days=1), run_conf=conf).state == "success"
    day = RUN_DAY + timedelta(days=1)
    assert restartable_s3.keys() == [f"backups/tracksolid_db/{day}.dump", f"backups/tracksolid_db/{day}.json"]


def test_pg_dump_failure_leaves_no_object(fleet_s3, live_db):
    store = ObjectStore.from_connection(bucket=fleet_s3.bucket)
    missing = _target(live_db).with_dbname("no_such_database_for_backup")
    with pytest.raises((backup.BackupError, psycopg2.OperationalError)):
        backup.dump_database(missing, store, RUN_DAY)
    assert fleet_s3.keys() == []
