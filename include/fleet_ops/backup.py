"""Database backups to the object store and the restore check (SPEC §9).

:func:`dump_database` runs ``pg_dump -Fc`` inside an exported snapshot and streams its output straight into
an S3 multipart upload (no temporary file) at ``backups/{db}/{YYYY-MM-DD}.dump``; the row count of every
table *in that same snapshot* goes to ``backups/{db}/{YYYY-MM-DD}.json`` (the manifest), written last — a
dump without a manifest is incomplete and never used. :func:`restore_check` restores the newest complete
dump into a scratch database with a unique name, compares its row counts with the manifest and drops the
scratch database whatever happens.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from fleet_db.settings import read_sql
from fleet_ops.pg import PgTarget, pg_binary
from fleet_ops.retention import BACKUP_KEY

log = logging.getLogger(__name__)

DEFAULT_BUCKET = "fleet-db"
STREAM_CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup could not be taken or stored; nothing usable was left under its key."""


class RestoreCheckFailed(RuntimeError):
    """The newest backup did not restore, or restored different row counts."""


def dump_key(database: str, day: date) -> str:
    return f"backups/{database}/{day.isoformat()}.dump"


def manifest_key(database: str, day: date) -> str:
    return f"backups/{database}/{day.isoformat()}.json"


def table_counts(cur) -> dict[str, int]:
    """Exact row count of every user table (extension-owned and TimescaleDB-internal tables excluded)."""
    cur.execute(read_sql("ops", "backup_tables.sql"))
    counts = {}
    for schema, table in cur.fetchall():
        cur.execute(f'SELECT count(*) FROM "{schema}"."{table}"')
        counts[f"{schema}.{table}"] = cur.fetchone()[0]
    return counts


class _Counting:
    """A read-only stream wrapper that hashes and counts what passes through (for the manifest)."""

    def __init__(self, raw):
        self.raw = raw
        self.bytes = 0
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size and size > 0 else STREAM_CHUNK)
        self.bytes += len(data)
        self.sha256.update(data)
        return data


def _tail(stream, limit: int = 2000) -> str:
    stream.seek(0)
    return stream.read().decode("utf-8", "replace")[-limit:].strip()


def dump_database(target: PgTarget, store, day: date, name: str | None = None) -> dict:
    """Dump ``target``'s database to the store under ``name`` (default: the database's own name), e.g.
    ``tracksolid_db``; returns the manifest. Raises :class:`BackupError`."""
    database = name or target.dbname
    key, mkey = dump_key(database, day), manifest_key(database, day)
    started = datetime.now(UTC)
    conn = target.connect()
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot(), current_setting('server_version'),"
                        " EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
            snapshot, server_version, timescale = cur.fetchone()
            counts = table_counts(cur)
            with tempfile.TemporaryFile() as stderr:
                cmd = [pg_binary("pg_dump"), "--format=custom", f"--snapshot={snapshot}", "--no-password"]
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=target.env())
                stream = _Counting(proc.stdout)
                try:
                    store.hook.load_file_obj(stream, key=key, bucket_name=store.bucket, replace=True)
                except Exception as exc:
                    proc.kill()
                    proc.wait()
                    raise BackupError(f"{database}: upload to s3://{store.bucket}/{key} failed"
                                      f" ({type(exc).__name__}: {exc}); no backup was stored") from exc
                finally:
                    proc.stdout.close()
                if proc.wait() != 0:
                    _discard(store, key)
                    raise BackupError(f"{database}: pg_dump exited {proc.returncode}: {_tail(stderr)}")
        conn.rollback()
    finally:
        conn.close()
    manifest = {"database": database, "day": day.isoformat(), "key": key, "bytes": stream.bytes,
                "sha256": stream.sha256.hexdigest(), "server_version": server_version, "timescaledb": timescale,
                "started_at": started.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
                "tables": counts}
    try:
        store.hook.load_string(json.dumps(manifest, indent=1, sort_keys=True), key=mkey, bucket_name=store.bucket,
                               replace=True)
    except Exception as exc:
        raise BackupError(f"{database}: manifest upload to s3://{store.bucket}/{mkey} failed: {exc}") from exc
    log.info("%s: %s bytes to s3://%s/%s, %s tables", database, stream.bytes, store.bucket, key, len(counts))
    return manifest


def _discard(store, key: str) -> None:
    try:
        store.hook.delete_objects(bucket=store.bucket, keys=[key])
    except Exception:  # noqa: BLE001 - best effort: the missing manifest already marks it unusable
        log.warning("could not delete the incomplete dump %s", key)


def newest_complete(store, database: str) -> date | None:
    """The newest day with both a dump and a manifest of ``database``."""
    found: dict[date, set[str]] = {}
    for key in store.list(f"backups/{database}/"):
        m = BACKUP_KEY.match(key)
        if m and m["db"] == database:
            found.setdefault(date.fromisoformat(m["day"]), set()).add(m["ext"])
    complete = [d for d, exts in found.items() if exts == {"dump", "json"}]
    return max(complete) if complete else None


@dataclass
class CheckResult:
    database: str
    day: str
    scratch: str
    compared: int
    mismatches: dict

    @property
    def ok(self) -> bool:
        return not self.mismatches


def restore_check(admin: PgTarget, store, database: str, day: date | None = None) -> CheckResult:
    """Restore ``database``'s newest complete backup (or ``day``'s) into a scratch database on ``admin``'s
    server and compare row counts with its manifest. Raises :class:`RestoreCheckFailed`."""
    day = day or newest_complete(store, database)
    if day is None:
        raise RestoreCheckFailed(f"{database}: no complete backup in s3://{store.bucket}/backups/{database}/")
    manifest = json.loads(store.hook.read_key(manifest_key(database, day), bucket_name=store.bucket))
    scratch = f"restore_check_{re.sub(r'[^a-z0-9_]', '_', database.lower())}_{uuid.uuid4().hex[:8]}"
    _admin_exec(admin, f'CREATE DATABASE "{scratch}"')
    try:
        target = admin.with_dbname(scratch)
        if manifest.get("timescaledb"):
            _exec(target, "CREATE EXTENSION IF NOT EXISTS timescaledb", "SELECT timescaledb_pre_restore()")
        _restore(target, store, dump_key(database, day))
        if manifest.get("timescaledb"):
            _exec(target, "SELECT timescaledb_post_restore()")
        conn = target.connect()
        try:
            with conn.cursor() as cur:
                restored = table_counts(cur)
        finally:
            conn.close()
    finally:
        _admin_exec(admin, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    expected = manifest["tables"]
    mismatches = {t: {"backup": expected.get(t), "restored": restored.get(t)}
                  for t in sorted(set(expected) | set(restored)) if expected.get(t) != restored.get(t)}
    result = CheckResult(database, day.isoformat(), scratch, len(expected), mismatches)
    if mismatches:
        raise RestoreCheckFailed(f"{database} {day}: restored row counts differ from the backup: {mismatches}")
    log.info("%s %s: restore check passed (%s tables, scratch %s dropped)", database, day, len(expected), scratch)
    return result


def _admin_exec(admin: PgTarget, statement: str) -> None:
    conn = admin.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def _exec(target: PgTarget, *statements: str) -> None:
    conn = target.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def _restore(target: PgTarget, store, key: str) -> None:
    """Stream the object into ``pg_restore`` (stdin) — no temporary file."""
    body = store.hook.get_key(key, bucket_name=store.bucket).get()["Body"]
    with tempfile.TemporaryFile() as stderr:
        cmd = [pg_binary("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error", "--no-password",
               f"--dbname={target.dbname}"]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr,
                                env=target.env())
        try:
            for chunk in iter(lambda: body.read(STREAM_CHUNK), b""):
                proc.stdin.write(chunk)
        except BrokenPipeError:
            pass  # pg_restore stopped reading: its exit code and stderr say why
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            body.close()
        if proc.wait() != 0:
            raise RestoreCheckFailed(f"pg_restore of {key} failed (exit {proc.returncode}): {_tail(stderr)}")
