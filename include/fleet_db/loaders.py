"""Fast, idempotent bulk loads: stream rows with COPY into a temp table, then ``INSERT … ON CONFLICT``.

This is the one write path of the ingestion DAGs (and the benchmark in ``bench/bench_position_loader.py``)::

    result = copy_upsert(conn, "tracksolid.trips", TRIP_COLUMNS, rows, ["imei", "start_time"], on_conflict="update")

- ``rows`` is any iterable of mappings (keyed by column name; missing keys are NULL) or sequences (in
  ``columns`` order). It is consumed lazily: rows are encoded and streamed to the server in chunks, never held
  whole in memory.
- Geometry is computed in SQL, not sent: a target column ``geom`` is filled from ``lat``/``lng`` and
  ``<prefix>_geom`` from ``<prefix>_lat``/``<prefix>_lng`` (``ST_SetSRID(ST_MakePoint(lng, lat), 4326)``)
  when those columns are loaded.
- ``jsonb`` columns (``raw``) accept dicts/lists.
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

Works with psycopg 3 connections (what ``PostgresHook.get_conn()`` returns with SQLAlchemy 2) and psycopg2
connections (the test fixtures).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

#: COPY text format escapes (backslash first is implied by translate's per-character mapping).
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
#: Rows encoded per chunk handed to the COPY stream (bounded memory, few round trips).
COPY_CHUNK_ROWS = 5000
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


def to_json(value) -> str:
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


def _as_sequences(rows: Iterable, columns: Sequence[str]) -> Iterator[Sequence]:
    for row in rows:
        if isinstance(row, Mapping):
            yield [row.get(c) for c in columns]
        else:
            if len(row) != len(columns):
                raise LoaderError(f"row has {len(row)} values, expected {len(columns)} ({', '.join(columns)})")
            yield row


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


class _Counter:
    """Counts rows as they stream past."""

    def __init__(self, rows: Iterable):
        self._rows = rows
        self.count = 0

    def __iter__(self):
        for row in self._rows:
            self.count += 1
            yield row


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


def _stream(cur, plan: _Plan, rows: Iterable) -> int:
    counter = _Counter(_as_sequences(rows, plan.columns))
    if _is_psycopg3(cur):
        # psycopg 3 encodes rows in C (about twice as fast as Python); only JSON values need converting.
        json_at = plan.json_positions
        with cur.copy(plan.copy_sql) as copy:
            if json_at:
                for row in counter:
                    row = list(row)
                    for i in json_at:
                        if row[i] is not None and not isinstance(row[i], str):
                            row[i] = to_json(row[i])
                    copy.write_row(row)
            else:
                for row in counter:
                    copy.write_row(row)
    else:
        chunks = copy_chunks(counter)
        reader = _ChunkReader(chunks)
        try:
            cur.copy_expert(plan.copy_sql, reader, size=1 << 16)
        except Exception as exc:
            if reader.error is not None:
                raise reader.error from exc
            raise
    return counter.count


def upsert_in_transaction(cur, table: str, columns: Sequence[str], rows: Iterable, key_columns: Sequence[str],
                          on_conflict: str = "nothing", *, set_on_update: Mapping[str, str] | None = None
                          ) -> LoadResult:
    """Stage ``rows`` with COPY and upsert them into ``table`` inside the caller's open transaction."""
    plan = _plan(cur, table, columns, key_columns, on_conflict, set_on_update)
    cur.execute(plan.stage_sql)
    received = _stream(cur, plan, rows)
    if received == 0:
        cur.execute(f"DROP TABLE {plan.stage}")
        return LoadResult(table, 0, 0, 0)
    cur.execute(plan.insert_sql)
    if plan.counts_by_xmax:
        inserted, updated = cur.fetchone()
    else:
        inserted, updated = cur.rowcount, 0
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
