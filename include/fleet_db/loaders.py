"""Fast, idempotent bulk loads: stream rows with COPY into a temp table, then ``INSERT … ON CONFLICT``.

This is the one write path of the ingestion DAGs (and the benchmark in ``bench/bench_position_loader.py``)::

    result = copy_upsert(conn, "tracksolid.trips", TRIP_COLUMNS, rows, ["imei", "start_time"], on_conflict="update")

- ``rows`` is any iterable of mappings (keyed by column name; missing keys are NULL) or sequences (in
  ``columns`` order). It is consumed lazily: rows are encoded and streamed to the server in chunks, never held
  whole in memory.
- Geometry is computed in SQL, not sent: a target column ``geom`` is filled from ``lat``/``lng`` and
  ``<prefix>_geom`` from ``<prefix>_lat``/``<prefix>_lng`` (``ST_SetSRID(ST_MakePoint(lng, lat), 4326)``)
  when those columns are loaded.
- ``jsonb`` columns (``raw``) accept dicts/lists (encoded with msgspec: compact UTF-8 JSON, Decimals as strings,
  datetimes as RFC 3339 — UTC as ``Z`` —, sets as arrays, bytes as base64, NaN/Infinity as ``null``, anything
  else as ``str(value)``). A ``str`` is taken as JSON text already.
- ``on_conflict``:
  * ``"nothing"``  — keep the row already stored (fixes: a point already present is not duplicated);
  * ``"update"``   — overwrite every loaded column, but only when something actually changed (re-running a
    window touches nothing, so ``ingested_at`` — the warehouse watermark — does not move for unchanged rows);
  * ``"update_if_newer:<col>"`` — overwrite only when the incoming ``<col>`` is greater (live positions by
    ``gps_time``).
  Every UPDATE also sets ``ingested_at = now()`` when the table has that column (arrival order for the
  warehouse). Duplicate keys inside one load are collapsed (the newest by ``<col>`` wins for
  ``update_if_newer``, otherwise the last row seen).
- :func:`copy_upsert` runs in its own transaction (one per batch load): either the whole batch is stored or
  nothing. :func:`upsert_in_transaction` does the same inside a transaction the caller opened, for loads that
  must land together (live positions + position history).

How a load runs (measured in ``bench/bench_position_loader.py``; the numbers are in ``bench/results.json``):

- ``on_conflict="nothing"`` (the large loads: fixes, alarms, OBD) is staged and inserted in chunks of
  :data:`CHUNK_ROWS` rows inside the one transaction. While the server runs chunk *k*'s
  ``INSERT … ON CONFLICT DO NOTHING`` (index maintenance: most of a load's time), a helper thread waits for it
  and the calling thread reads and prepares chunk *k+1* from ``rows``, so the client's work hides behind the
  server's. One chunk is in memory at a time; a load shorter than one chunk starts no thread. The result is
  exactly that of one statement: the first row of a key wins, later ones count as unchanged.
- The ``update`` modes stage the whole input (streamed) and run one ``INSERT … ON CONFLICT DO UPDATE``, because
  duplicate keys are collapsed across the whole load and each row is counted once as inserted or updated.
- Not done, on purpose: ``synchronous_commit = off`` (a commit lost in a server crash would be reported as
  loaded and never retried; the saving is one WAL flush per transaction), a plain ``INSERT`` after an anti-join
  instead of ``ON CONFLICT`` (it needs a savepoint per chunk to survive a concurrent writer of the same key, and
  more than 64 subtransactions overflow the snapshot cache for every other session), sorting the staged rows
  by key or by location (no gain measured).

Works with psycopg 3 connections (what ``PostgresHook.get_conn()`` returns with SQLAlchemy 2) and psycopg2
connections (the test fixtures).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import msgspec

#: COPY text format escapes (backslash first is implied by translate's per-character mapping).
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
#: Rows encoded per chunk handed to the COPY stream (bounded memory, few round trips).
COPY_CHUNK_ROWS = 5000
#: Rows staged and inserted per statement by ``on_conflict="nothing"`` loads: bounds the loader's memory (one
#: chunk at a time) and keeps the temp table inside the default ``temp_buffers`` (8 MB).
CHUNK_ROWS = 10_000
_stage_counter = itertools.count(1)


class LoaderError(ValueError):
    """The load was asked for something that cannot work (unknown table/column, bad mode)."""


@dataclass(frozen=True)
class LoadResult:
    """What one load did. ``unchanged`` rows were already stored as sent (or older, for update_if_newer)."""

    table: str
    received: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        return self.received - self.inserted - self.updated

    def as_dict(self) -> dict:
        return {"table": self.table, "received": self.received, "inserted": self.inserted,
                "updated": self.updated}


# --------------------------------------------------------------------------------------------- encoding
def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


#: Ten times faster than ``json.dumps`` for a typical ``raw`` payload (0.4 µs instead of 3.7 µs).
_JSON_ENCODER = msgspec.json.Encoder(enc_hook=str, decimal_format="string")


def to_json(value) -> str:
    """Compact JSON text of ``value`` (see the module docstring for how non-JSON types are written)."""
    try:
        return _JSON_ENCODER.encode(value).decode("utf-8")
    except (TypeError, ValueError, OverflowError):  # e.g. a key msgspec cannot write: the stdlib's choices
        return json.dumps(value, default=_json_default, separators=(",", ":"), ensure_ascii=False)


def copy_text(value) -> str:
    """One value in PostgreSQL COPY text format (``\\N`` for NULL, escaped tabs/newlines/backslashes)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return to_json(value).translate(_COPY_ESCAPES)
    return str(value).translate(_COPY_ESCAPES)


def _as_sequences(rows: Iterable, columns: Sequence[str], json_positions: Sequence[int] = ()) -> Iterator[Sequence]:
    """Rows as sequences in ``columns`` order, the values of JSON columns as JSON text."""
    width = len(columns)
    for row in rows:
        if isinstance(row, Mapping):
            row = [row.get(c) for c in columns]
        elif len(row) != width:
            raise LoaderError(f"row has {len(row)} values, expected {width} ({', '.join(columns)})")
        elif json_positions:
            row = list(row)  # never change the caller's row in place
        for i in json_positions:
            value = row[i]
            if value is not None and not isinstance(value, str):
                row[i] = to_json(value)
        yield row


def _chunked(rows: Iterable, size: int) -> Iterator[list]:
    rows = iter(rows)
    while True:
        chunk = list(itertools.islice(rows, size))
        if not chunk:
            return
        yield chunk
        del chunk  # let the consumer free it before the next one is read


def copy_chunks(rows: Iterable[Sequence], chunk_rows: int = COPY_CHUNK_ROWS) -> Iterator[bytes]:
    """Encode row sequences as COPY text, ``chunk_rows`` lines per bytes chunk."""
    lines: list[str] = []
    for row in rows:
        lines.append("\t".join([copy_text(v) for v in row]))
        if len(lines) >= chunk_rows:
            yield ("\n".join(lines) + "\n").encode("utf-8")
            lines.clear()
    if lines:
        yield ("\n".join(lines) + "\n").encode("utf-8")


class _ChunkReader:
    """A read()-able file over an iterator of byte chunks, for psycopg2's ``copy_expert``."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buffer = b""
        #: The exception raised while producing rows; psycopg2 hides it behind a QueryCanceled.
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                chunk = next(self._chunks, None)
            except BaseException as exc:
                self.error = exc
                raise
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    readline = read


# --------------------------------------------------------------------------------------------- SQL
def _quote(identifier: str) -> str:
    if not _IDENT.match(identifier):
        raise LoaderError(f"not a plain SQL identifier: {identifier!r}")
    return f'"{identifier}"'


def _split_table(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return (schema or "public"), name


def _is_psycopg3(cur) -> bool:
    return hasattr(cur, "copy")


def _table_columns(cur, table: str) -> dict[str, str]:
    schema, name = _split_table(table)
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (schema, name),
    )
    found = {r[0]: r[1] for r in cur.fetchall()}
    if not found:
        raise LoaderError(f"table {table} does not exist")
    return found


def _geometry_columns(target: dict[str, str], columns: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Target geometry columns that can be computed from the loaded lat/lng columns."""
    points = {}
    for col, col_type in target.items():
        if not col_type.startswith("geometry") or col in columns:
            continue
        prefix = "" if col == "geom" else col[: -len("geom")] if col.endswith("_geom") else None
        if prefix is None:
            continue
        lat, lng = f"{prefix}lat", f"{prefix}lng"
        if lat in columns and lng in columns:
            points[col] = (lng, lat)
    return points


@dataclass(frozen=True)
class _Plan:
    table: str
    columns: tuple[str, ...]
    stage_sql: str
    copy_sql: str
    insert_sql: str
    counts_by_xmax: bool
    stage: str
    json_positions: tuple[int, ...]


def _plan(cur, table: str, columns: Sequence[str], key_columns: Sequence[str], on_conflict: str,
          set_on_update: Mapping[str, str] | None) -> _Plan:
    columns = tuple(columns)
    if len(set(columns)) != len(columns):
        raise LoaderError(f"duplicate column in {columns}")
    target = _table_columns(cur, table)
    unknown = [c for c in (*columns, *key_columns) if c not in target]
    if unknown:
        raise LoaderError(f"{table} has no column(s) {', '.join(unknown)}")
    missing_keys = [k for k in key_columns if k not in columns]
    if missing_keys:
        raise LoaderError(f"key column(s) {', '.join(missing_keys)} must be loaded")
    mode, _, newer_col = on_conflict.partition(":")
    if mode not in ("nothing", "update", "update_if_newer") or (mode == "update_if_newer") != bool(newer_col):
        raise LoaderError(f"on_conflict must be nothing, update or update_if_newer:<column>, not {on_conflict!r}")
    if newer_col and newer_col not in columns:
        raise LoaderError(f"update_if_newer column {newer_col!r} is not loaded")

    schema, name = _split_table(table)
    qtable = f"{_quote(schema)}.{_quote(name)}"
    stage = f"stage_{name}_{next(_stage_counter)}"
    col_list = ", ".join(_quote(c) for c in columns)
    points = _geometry_columns(target, columns)
    insert_cols = [*columns, *points]
    select_exprs = [_quote(c) for c in columns] + [
        f"ST_SetSRID(ST_MakePoint({_quote(lng)}, {_quote(lat)}), 4326)" for lng, lat in points.values()
    ]
    keys = ", ".join(_quote(k) for k in key_columns)

    source = f"FROM {stage}"
    if mode != "nothing":
        # ON CONFLICT DO UPDATE may not touch one row twice in a statement: collapse duplicate keys first.
        order = f"{keys}, {_quote(newer_col)} DESC" if newer_col else f"{keys}, ordinality DESC"
        source = (f"FROM (SELECT *, row_number() OVER () AS ordinality FROM {stage}) s"
                  if not newer_col else f"FROM {stage} s")
        select = f"SELECT DISTINCT ON ({keys}) {', '.join(select_exprs)} {source} ORDER BY {order}"
    else:
        select = f"SELECT {', '.join(select_exprs)} {source}"

    sql = f"INSERT INTO {qtable} AS t ({', '.join(_quote(c) for c in insert_cols)}) {select} "
    if mode == "nothing":
        sql += f"ON CONFLICT ({keys}) DO NOTHING"
    else:
        updatable = [c for c in insert_cols if c not in key_columns]
        sets = [f"{_quote(c)} = EXCLUDED.{_quote(c)}" for c in updatable]
        extra = dict(set_on_update or {})
        if "ingested_at" in target and "ingested_at" not in insert_cols:
            extra.setdefault("ingested_at", "now()")
        for col, expr in extra.items():
            if col not in target:
                raise LoaderError(f"{table} has no column {col!r} (set_on_update)")
            sets.append(f"{_quote(col)} = {expr}")
        if newer_col:
            condition = f"EXCLUDED.{_quote(newer_col)} > t.{_quote(newer_col)}"
        else:
            compared = [c for c in updatable if c not in points]
            condition = (f"({', '.join('t.' + _quote(c) for c in compared)}, NULL) IS DISTINCT FROM "
                         f"({', '.join('EXCLUDED.' + _quote(c) for c in compared)}, NULL)")
        sql += f"ON CONFLICT ({keys}) DO UPDATE SET {', '.join(sets)} WHERE {condition}"
        sql = (f"WITH upserted AS ({sql} RETURNING (t.xmax = 0) AS inserted) "
               "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted")

    return _Plan(
        table=table,
        columns=columns,
        stage=stage,
        # Same column types as the target, no constraints or indexes; dropped at commit.
        stage_sql=f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {col_list} FROM {qtable} WITH NO DATA",
        copy_sql=f"COPY {stage} ({col_list}) FROM STDIN",
        insert_sql=sql,
        counts_by_xmax=mode != "nothing",
        json_positions=tuple(i for i, c in enumerate(columns) if target[c] in ("json", "jsonb")),
    )


def _copy_rows(cur, plan: _Plan, rows: Iterable[Sequence]) -> int:
    """COPY prepared rows (see :func:`_as_sequences`) into the plan's stage table; returns how many."""
    count = 0
    if _is_psycopg3(cur):
        # psycopg 3 encodes the rows in C, about twice as fast as building COPY text in Python.
        with cur.copy(plan.copy_sql) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)
                count += 1
        return count

    def counted():
        nonlocal count
        for row in rows:
            count += 1
            yield row

    reader = _ChunkReader(copy_chunks(counted()))
    try:
        cur.copy_expert(plan.copy_sql, reader, size=1 << 16)
    except Exception as exc:
        if reader.error is not None:
            raise reader.error from exc
        raise
    return count


def _insert_staged(cur, plan: _Plan) -> int:
    """Insert the staged chunk and empty the stage for the next one; returns the rows inserted."""
    cur.execute(plan.insert_sql)
    inserted = cur.rowcount
    cur.execute(f"TRUNCATE {plan.stage}")  # in place: the table was created in this transaction
    return inserted


def _insert_in_chunks(cur, plan: _Plan, rows: Iterable[Sequence]) -> tuple[int, int]:
    """``on_conflict="nothing"``: stage and insert chunk by chunk; read the next chunk while the server inserts.

    The INSERT runs on a helper thread that only waits for the server (psycopg releases the GIL meanwhile), so
    this thread can pull and encode the next chunk from ``rows``. The connection is never used by both threads
    at once: the next COPY starts after the INSERT's result is in. One chunk is held in memory at a time.
    """
    chunks = _chunked(rows, CHUNK_ROWS)
    received = inserted = 0
    helper: ThreadPoolExecutor | None = None
    pending: Future | None = None
    try:
        chunk = next(chunks, None)
        while chunk is not None:
            _copy_rows(cur, plan, chunk)
            received += len(chunk)
            if len(chunk) < CHUNK_ROWS:  # a short chunk is the last one: nothing to read meanwhile
                inserted += _insert_staged(cur, plan)
                break
            chunk = None  # free it before reading the next one
            helper = helper or ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-loader")
            pending = helper.submit(_insert_staged, cur, plan)
            chunk = next(chunks, None)
            inserted += pending.result()
            pending = None
    finally:
        if pending is not None:  # the rows raised: let the statement finish before the caller rolls back
            wait([pending])
        if helper is not None:
            helper.shutdown()
    return received, inserted


def upsert_in_transaction(cur, table: str, columns: Sequence[str], rows: Iterable, key_columns: Sequence[str],
                          on_conflict: str = "nothing", *, set_on_update: Mapping[str, str] | None = None
                          ) -> LoadResult:
    """Stage ``rows`` with COPY and upsert them into ``table`` inside the caller's open transaction."""
    plan = _plan(cur, table, columns, key_columns, on_conflict, set_on_update)
    prepared = _as_sequences(rows, plan.columns, plan.json_positions)
    cur.execute(plan.stage_sql)
    if not plan.counts_by_xmax:
        received, inserted = _insert_in_chunks(cur, plan, prepared)
        updated = 0
    else:
        received = _copy_rows(cur, plan, prepared)
        inserted = updated = 0
        if received:
            cur.execute(plan.insert_sql)
            inserted, updated = cur.fetchone()
    cur.execute(f"DROP TABLE {plan.stage}")
    return LoadResult(table, received, int(inserted), int(updated))


@contextmanager
def transaction(conn):
    """One transaction on a psycopg2 or psycopg 3 connection: commit on success, roll back on error.

    The connection's autocommit setting is restored afterwards. Yields a cursor.
    """
    previous = conn.autocommit
    if previous:
        conn.autocommit = False
    try:
        cur = conn.cursor()
        try:
            yield cur
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            cur.close()
    finally:
        if previous:
            conn.autocommit = True


def copy_upsert(conn, table: str, columns: Sequence[str], rows: Iterable, key_columns: Sequence[str],
                on_conflict: str = "nothing", *, set_on_update: Mapping[str, str] | None = None) -> LoadResult:
    """Load ``rows`` into ``table`` idempotently, in one transaction of its own. See the module docstring."""
    with transaction(conn) as cur:
        return upsert_in_transaction(cur, table, columns, rows, key_columns, on_conflict,
                                     set_on_update=set_on_update)
