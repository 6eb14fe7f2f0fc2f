"""Bronze extract → object store → load, one table at a time (SPEC §6).

Life of one table in one run (``dwh_control.extract_runs``: started → extracted → loaded | failed):

1. :func:`take_high_water_mark` once per run on ``tracksolid_db`` (see ``live_high_water_mark.sql``).
2. :func:`extract_table`: ``COPY (SELECT …) TO STDOUT`` streamed into a gzip temp file — snapshot tables whole,
   incremental tables ``watermark <= col < high-water mark`` — uploaded to
   ``dwh/exports/{table}/{YYYYMMDD_HHMM}.csv.gz``; the run row gets the key and the row count.
3. :func:`load_object`: **one transaction** on ``tracksolid_dwh``: ``COPY`` straight from the object (read
   while it downloads, no temp file) into bronze (snapshot: after deleting the old copy; incremental: inside a
   savepoint, which a key already in bronze rolls back, and then ``COPY`` into a temp table → upsert on the
   live key) → advance the watermark → close the run row.
4. :func:`move_object`: ``dwh/exports/…`` → ``dwh/processed/…`` (copy, then delete the source).

A failure anywhere marks the run row failed and leaves the watermark where the last committed load put it,
so the next run extracts the same rows again; the upsert makes that harmless (at-least-once delivery,
idempotent loads). :func:`prepare_run` closes rows abandoned by dead workers and tidies objects left in
``dwh/exports/`` by a run that died after its load.

Connections are psycopg2 connections (``PostgresHook.get_conn()`` in the DAG); nothing is held in memory.
"""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
import threading
from datetime import UTC, datetime

from psycopg2 import errors, sql

from fleet_db.settings import read_sql
from fleet_dwh.objectstore import (
    EXPORTS_PREFIX,
    UNLOADED_PREFIX,
    ObjectStore,
    export_key,
    processed_key,
)
from fleet_dwh.tables import BOOKKEEPING_COLUMNS, INCREMENTAL, SNAPSHOT, BronzeTable, get_table, select_tables

log = logging.getLogger(__name__)

#: Loads of tables silver reads take this lock exclusively; silver rebuilds take it shared. So a rebuild's
#: build time is always earlier than the _loaded_at of any row it could not see (late-data detection).
SILVER_INPUT_LOCK = "fleet.dwh.silver_inputs"
#: Lag used when the extract role cannot see other sessions' transactions (no pg_read_all_stats).
DEFAULT_BLIND_LAG_S = 300
GZIP_LEVEL = int(os.environ.get("FLEET_DWH_GZIP_LEVEL", "1"))  # speed over size: the files are transient
#: Bytes handed to the compressor thread at a time, and read per call when copying a file into the database.
CHUNK_BYTES = 1 << 20


class BronzeError(RuntimeError):
    """A bronze step failed; the run row says why."""


def _sql(name: str) -> str:
    return read_sql("dwh", name)


def _session_defaults(cur) -> None:
    # CSV text is written and read back with the same, explicit conventions.
    cur.execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'")


class _GzipInBackground:
    """A write-only file object that gzips in a second thread.

    ``copy_expert`` writes one small chunk per row. ``write`` is the C ``write`` of a buffered OS pipe (no
    Python code runs per row); a thread drains the pipe and compresses (pipe reads and zlib release the GIL),
    so compression runs beside the ``COPY``. A compressor error is raised by :meth:`close`; until then the
    thread keeps draining the pipe so the writer can never block on it.
    """

    def __init__(self, path: str, level: int = GZIP_LEVEL):
        self._out = gzip.open(path, "wb", compresslevel=level)
        read_fd, write_fd = os.pipe()
        self._reader = open(read_fd, "rb", buffering=0)  # noqa: SIM115 - closed by the compressor thread
        self._writer = open(write_fd, "wb", buffering=CHUNK_BYTES)  # noqa: SIM115 - closed by close()
        self.write = self._writer.write
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._compress, name="bronze-gzip", daemon=True)
        self._thread.start()

    def _compress(self) -> None:
        with self._reader:
            while block := self._reader.read(CHUNK_BYTES):
                if self._error is None:
                    try:
                        self._out.write(block)
                    except BaseException as exc:  # noqa: BLE001 - re-raised by close() in the writing thread
                        self._error = exc

    def close(self) -> None:
        """Flush, wait for the compressor, close the file; raises what the compressor hit."""
        if not self._writer.closed:
            self._writer.close()  # end of file for the compressor
            self._thread.join()
        self._out.close()
        if self._error is not None:
            raise self._error

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


# --------------------------------------------------------------------------------------------- high-water mark
def take_high_water_mark(live_conn, safety_lag_s: float = 0, blind_lag_s: float = DEFAULT_BLIND_LAG_S) -> datetime:
    """The run's consistent upper bound for every incremental table (aware UTC datetime)."""
    live_conn.autocommit = True
    with live_conn.cursor() as cur:
        cur.execute(_sql("live_high_water_mark.sql"), {"safety_lag_s": float(safety_lag_s)})
        hwm, sees_all, _taken_at = cur.fetchone()
        if not sees_all:
            # Other roles' open transactions may be invisible: fall back to a fixed lag behind now().
            log.warning("cannot see every session's transactions: using a %s s high-water-mark lag", blind_lag_s)
            cur.execute("SELECT least(%s, now() - make_interval(secs => %s))", (hwm, float(blind_lag_s)))
            hwm = cur.fetchone()[0]
    return hwm.astimezone(UTC)


# ---------------------------------------------------------------------------------------------------- columns
def bronze_columns(dwh_conn, table: BronzeTable) -> list[str]:
    """Source columns of a bronze table, in table order (the migration is the one column list)."""
    with dwh_conn.cursor() as cur:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'bronze' AND table_name = %s "
            "ORDER BY ordinal_position",
            (table.name,),
        )
        cols = [r[0] for r in cur.fetchall() if r[0] not in BOOKKEEPING_COLUMNS]
    if not cols:
        raise BronzeError(f"bronze.{table.name} does not exist: migrate tracksolid_dwh first")
    return cols


def _ident_list(cols) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in cols)


def _source_ident(table: BronzeTable) -> sql.Identifier:
    schema, name = table.source.split(".")
    return sql.Identifier(schema, name)


# ---------------------------------------------------------------------------------------------------- extract
def _ensure_watermark(dwh_conn, table: BronzeTable):
    with dwh_conn.cursor() as cur:
        cur.execute(_sql("watermark_ensure.sql"),
                    {"table_name": table.name, "watermark_column": table.watermark_column or "snapshot"})
        cur.execute(_sql("watermark_read.sql"), {"table_name": table.name})
        return cur.fetchone()[0]


def _mark_failed(dwh_conn, run_row_id: int, error: str) -> None:
    """Record the failure on the run row. Never raises: when the warehouse connection is the thing that broke
    (e.g. the server restarted), the caller's exception is the one to report, and the row stays open for the
    task's retry (or is closed by the next run's :func:`prepare_run`)."""
    try:
        try:
            dwh_conn.rollback()
        except Exception:  # noqa: BLE001 - the connection may be the thing that broke
            pass
        dwh_conn.autocommit = True
        with dwh_conn.cursor() as cur:
            cur.execute(_sql("extract_run_failed.sql"), {"id": run_row_id, "error": error})
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("could not mark extract_runs row %s failed (%s: %s); it stays open until a retry or the next "
                    "run closes it", run_row_id, type(exc).__name__, exc)


def _reset(conn) -> None:
    """Back to autocommit after a step, unless the connection died (then its error is already propagating)."""
    if not conn.closed:
        conn.autocommit = True


def extract_table(live_conn, dwh_conn, store: ObjectStore, table_name: str, run_id: str,
                  high_water_mark: datetime, work_dir: str | None = None) -> dict:
    """Extract one table to the object store; returns the manifest the load needs."""
    table = get_table(table_name)
    dwh_conn.autocommit = True
    watermark_from = _ensure_watermark(dwh_conn, table)
    with dwh_conn.cursor() as cur:
        cur.execute(_sql("extract_run_start.sql"), {
            "run_id": run_id, "table_name": table.name, "load_mode": table.mode,
            "watermark_from": watermark_from if table.mode == INCREMENTAL else None,
            "watermark_to": high_water_mark,
        })
        row = cur.fetchone()
        if row is None:
            raise BronzeError(f"{table.name}: run {run_id} already loaded this table; start a new run instead")
        run_row_id = row[0]
        stamp = high_water_mark.astimezone(UTC).strftime("%Y%m%d_%H%M")
        cur.execute(_sql("extract_run_set_key.sql"), {"id": run_row_id, "object_key": export_key(table.name, stamp)})
        key = cur.fetchone()[0]
    try:
        columns = bronze_columns(dwh_conn, table)
        query = sql.SQL("SELECT {cols} FROM {src}").format(cols=_ident_list(columns), src=_source_ident(table))
        params: tuple = ()
        if table.mode == INCREMENTAL:
            query += sql.SQL(" WHERE {wm} >= %s AND {wm} < %s").format(wm=sql.Identifier(table.watermark_column))
            params = (watermark_from or datetime.min.replace(tzinfo=UTC), high_water_mark)
        with tempfile.TemporaryDirectory(dir=work_dir, prefix="dwh-extract-") as tmp:
            path = os.path.join(tmp, f"{table.name}.csv.gz")
            live_conn.autocommit = False
            try:
                with live_conn.cursor() as cur:
                    _session_defaults(cur)
                    copy = sql.SQL("COPY ({q}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
                        q=sql.SQL(cur.mogrify(query.as_string(cur), params).decode()))
                    with _GzipInBackground(path) as out:
                        cur.copy_expert(copy.as_string(cur), out)
                    rows = cur.rowcount
            finally:
                if not live_conn.closed:
                    live_conn.rollback()  # read only; ends the snapshot
                _reset(live_conn)
            store.upload(path, key)
        with dwh_conn.cursor() as cur:
            cur.execute(_sql("extract_run_extracted.sql"), {"id": run_row_id, "rows": rows, "object_key": key})
    except Exception as exc:
        _mark_failed(dwh_conn, run_row_id, f"extract failed: {type(exc).__name__}: {exc}")
        raise
    log.info("extracted %s rows of %s to s3://%s/%s", rows, table.name, store.bucket, key)
    return {
        "table": table.name, "run_id": run_id, "run_row_id": run_row_id, "object_key": key, "rows": rows,
        "watermark_from": watermark_from.isoformat() if watermark_from else None,
        "watermark_to": high_water_mark.isoformat(),
    }


# ------------------------------------------------------------------------------------------------------- load
def _upsert_statement(table: BronzeTable, columns: list[str]) -> sql.Composed:
    target = sql.Identifier("bronze", table.name)
    all_cols = _ident_list([*columns, *BOOKKEEPING_COLUMNS])
    select = sql.SQL("SELECT {cols}, %(run_id)s, %(loaded_at)s FROM pg_temp.bronze_stage").format(
        cols=_ident_list(columns))
    if table.mode == SNAPSHOT:
        return sql.SQL("INSERT INTO {t} ({all}) ").format(t=target, all=all_cols) + select
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
        for c in [*columns, *BOOKKEEPING_COLUMNS] if c not in table.key
    )
    return sql.SQL("INSERT INTO {t} ({all}) {select} ON CONFLICT ({key}) DO UPDATE SET {updates}").format(
        t=target, all=all_cols, select=select, key=_ident_list(table.key), updates=updates)


def _copy_object(cur, target: sql.Composable, columns: list[str], store: ObjectStore, key: str) -> int:
    """``COPY`` an exported ``.csv.gz`` into ``target`` straight from the store; returns the row count.

    The object is read while it downloads (no temp file), so the transfer overlaps the ``COPY``; a broken
    download breaks the ``COPY`` and with it the load transaction.
    """
    body = store.hook.get_key(key, bucket_name=store.bucket).get()["Body"]
    try:
        with gzip.GzipFile(fileobj=body, mode="rb") as src:
            # HEADER MATCH: a file whose columns differ from bronze fails loudly instead of shifting data.
            cur.copy_expert(sql.SQL("COPY {t} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER MATCH)").format(
                t=target, cols=_ident_list(columns)).as_string(cur), src, size=CHUNK_BYTES)
            return cur.rowcount
    finally:
        body.close()


def _copy_into_bronze(cur, table: BronzeTable, columns: list[str], store: ObjectStore, key: str, run_id: str,
                      loaded_at) -> int:
    """Write the object's rows into bronze inside the load transaction; returns how many rows it holds.

    Snapshot: delete the old copy, ``COPY`` straight in. Incremental: ``COPY`` straight in inside a savepoint —
    the common case, new keys only, costs one ``COPY``. A key already in bronze (a corrected or re-extracted
    row) raises a unique violation: back to the savepoint, then stage the object and upsert on the live key.
    """
    target = sql.Identifier("bronze", table.name)
    if table.mode == SNAPSHOT:
        cur.execute(sql.SQL("DELETE FROM {t}").format(t=target))
        return _copy_object(cur, target, columns, store, key)
    cur.execute("SAVEPOINT bronze_direct_copy")
    try:
        rows = _copy_object(cur, target, columns, store, key)
    except errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT bronze_direct_copy")
        log.info("bronze.%s: the file updates rows already loaded; staging it for an upsert", table.name)
    else:
        cur.execute("RELEASE SAVEPOINT bronze_direct_copy")
        return rows
    cur.execute(sql.SQL("CREATE TEMP TABLE bronze_stage ON COMMIT DROP AS SELECT {cols} FROM {t} WITH NO DATA").format(
        cols=_ident_list(columns), t=target))
    rows = _copy_object(cur, sql.Identifier("pg_temp", "bronze_stage"), columns, store, key)
    cur.execute(_upsert_statement(table, columns), {"run_id": run_id, "loaded_at": loaded_at})
    return rows


def load_object(dwh_conn, store: ObjectStore, manifest: dict) -> dict:
    """Load one extract into bronze in one transaction. Returns ``{"status": ..., "rows": ...}``.

    Status ``loaded`` (this call committed it), ``already_loaded`` (a retry after a committed load: nothing to
    do) or ``superseded`` (the watermark moved since the extract: loading would write older row versions).
    """
    table = get_table(manifest["table"])
    run_row_id = manifest["run_row_id"]
    dwh_conn.autocommit = False
    try:
        with dwh_conn.cursor() as cur:
            _session_defaults(cur)
            if table.feeds_silver:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (SILVER_INPUT_LOCK,))
            cur.execute(_sql("extract_run_lock_for_load.sql"), {"id": run_row_id})
            state = cur.fetchone()
            if state is None:
                raise BronzeError(f"{table.name}: no extract_runs row {run_row_id}")
            _status, loaded_at, wm_from, wm_to, rows_extracted, key, current = state
            if loaded_at is not None:
                dwh_conn.commit()
                return {"status": "already_loaded", "rows": None}
            stale = (current != wm_from) if table.mode == INCREMENTAL else (current is not None and current > wm_to)
            if stale:
                cur.execute(_sql("extract_run_superseded.sql"),
                            {"id": run_row_id, "current": current, "watermark_from": wm_from})
                dwh_conn.commit()
                return {"status": "superseded", "rows": None}
            columns = bronze_columns(dwh_conn, table)
            # After the lock: later than any rebuild that saw older rows. The bookkeeping columns of rows the
            # COPY writes straight into bronze default to these two settings (migration 0008).
            cur.execute("SELECT clock_timestamp()")
            loaded_at = cur.fetchone()[0]
            cur.execute("SELECT set_config('fleet_dwh.load_run_id', %s, true), "
                        "set_config('fleet_dwh.load_loaded_at', %s::timestamptz::text, true)",
                        (manifest["run_id"], loaded_at))
            staged = _copy_into_bronze(cur, table, columns, store, key, manifest["run_id"], loaded_at)
            if rows_extracted is not None and staged != rows_extracted:
                raise BronzeError(f"{table.name}: object {key} holds {staged} rows, the extract wrote {rows_extracted}")
            cur.execute(_sql("watermark_advance.sql"), {"table_name": table.name, "watermark_to": wm_to})
            cur.execute(_sql("extract_run_loaded.sql"), {"id": run_row_id, "rows": staged, "loaded_at": loaded_at})
        dwh_conn.commit()
    except Exception as exc:
        _mark_failed(dwh_conn, run_row_id, f"load failed (rolled back): {type(exc).__name__}: {exc}")
        raise
    finally:
        _reset(dwh_conn)
    log.info("loaded %s rows into bronze.%s", staged, table.name)
    return {"status": "loaded", "rows": staged}


def move_object(dwh_conn, store: ObjectStore, manifest: dict) -> str:
    """Move a loaded export to ``dwh/processed/…``; a failure marks the run failed (its rows stay loaded)."""
    key = manifest["object_key"]
    dest = processed_key(key)
    try:
        store.move(key, dest)
    except Exception as exc:
        _mark_failed(dwh_conn, manifest["run_row_id"],
                     f"loaded (rows committed, watermark advanced) but moving {key} failed: "
                     f"{type(exc).__name__}: {exc}; the next run moves it")
        raise
    dwh_conn.autocommit = True
    with dwh_conn.cursor() as cur:
        cur.execute(_sql("extract_run_moved.sql"), {"id": manifest["run_row_id"], "processed_key": dest})
    return dest


def load_table(dwh_conn, store: ObjectStore, manifest: dict) -> dict:
    """Load, then move the object: the body of the DAG's load task."""
    outcome = load_object(dwh_conn, store, manifest)
    if outcome["status"] in ("loaded", "already_loaded"):
        outcome["processed_key"] = move_object(dwh_conn, store, manifest)
    return {**manifest, **outcome}


# -------------------------------------------------------------------------------------------- start of a run
def prepare_run(dwh_conn, store: ObjectStore, run_id: str) -> dict:
    """Close rows abandoned by earlier runs and move objects they left in ``dwh/exports/``.

    Loaded objects go to ``dwh/processed/``; never-loaded ones to ``dwh/unloaded/`` (kept for audit: their
    rows are extracted again because their watermark never moved). Nothing is deleted.
    """
    dwh_conn.autocommit = True
    with dwh_conn.cursor() as cur:
        cur.execute(_sql("extract_runs_fail_abandoned.sql"), {"run_id": run_id})
        abandoned = cur.fetchall()
    moved, parked = [], []
    try:
        leftovers = store.list(EXPORTS_PREFIX)
    except Exception as exc:  # noqa: BLE001 - housekeeping only: the extracts will report a store outage
        log.warning("prepare_run: cannot list %s (%s); leftovers are moved by a later run", EXPORTS_PREFIX, exc)
        leftovers = []
    for key in leftovers:
        with dwh_conn.cursor() as cur:
            cur.execute(_sql("extract_run_by_key.sql"), {"object_key": key})
            row = cur.fetchone()
        if row is not None and row[2] is not None:
            dest = processed_key(key)
            store.move(key, dest)
            with dwh_conn.cursor() as cur:
                cur.execute(_sql("extract_run_moved.sql"), {"id": row[0], "processed_key": dest})
            moved.append(dest)
        else:
            dest = processed_key(key, UNLOADED_PREFIX)
            store.move(key, dest)
            if row is not None:
                with dwh_conn.cursor() as cur:
                    cur.execute(_sql("extract_run_moved.sql"), {"id": row[0], "processed_key": dest})
            parked.append(dest)
    if abandoned or moved or parked:
        log.info("prepare_run: %d abandoned rows failed, %d objects to processed, %d to unloaded",
                 len(abandoned), len(moved), len(parked))
    return {"abandoned": len(abandoned), "moved_to_processed": moved, "moved_to_unloaded": parked}


def run_bronze(live_conn, dwh_conn, store: ObjectStore, run_id: str, tables: list[str] | None = None,
               safety_lag_s: float = 0) -> list[dict]:
    """One whole bronze run, table after table — what the DAG does, for the demo, tests and benchmark.

    Failures are collected, not raised, so every table gets its chance; raise on the caller's side if needed.
    """
    prepare_run(dwh_conn, store, run_id)
    hwm = take_high_water_mark(live_conn, safety_lag_s)
    results = []
    for table in select_tables(tables):
        try:
            manifest = extract_table(live_conn, dwh_conn, store, table.name, run_id, hwm)
            results.append(load_table(dwh_conn, store, manifest))
        except Exception as exc:  # noqa: BLE001 - reported per table, the run row holds the detail
            log.exception("bronze %s failed", table.name)
            results.append({"table": table.name, "status": "failed", "error": str(exc)})
    return results
