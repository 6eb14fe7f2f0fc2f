"""Write a validated push request to ``tracksolid_db`` in one transaction (psycopg 3 + a connection pool).

Order inside the transaction: the raw request into ``push_inbox`` (a replay — same payload hash — stops
here and is acknowledged), unknown IMEIs into ``devices`` as unregistered, then one multi-row statement per
destination table (``INSERT … SELECT … FROM jsonb_to_recordset`` … ``ON CONFLICT DO NOTHING``). The caller
replies success only after :meth:`PushStore.save` returns, i.e. after COMMIT.

Each statement gets two JSON documents: ``rows`` (the validated columns, encoded by msgspec) and ``items``
(the items array exactly as received). A row's ``raw`` column is ``items -> row.item``: the raw JSON is
what the sender sent, parsed once by the database, never decoded and re-encoded by Python. Fixes keep it
without the fields whose values are in their columns (``column_fields``; the whole request is in push_inbox).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import msgspec
import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from fleet_db.settings import read_sql
from webhook_service.config import WebhookConfig
from webhook_service.fast_items import gps_column_fields
from webhook_service.parsing import PushBatch, PushValidationError

log = logging.getLogger(__name__)

#: destination (PushBatch.rows key) -> SQL files under include/sql/webhook/, run in this order.
STATEMENTS: dict[str, tuple[str, ...]] = {
    "position_history": ("insert_fixes_and_live_positions",),
    "heartbeats": ("insert_heartbeats", "update_live_positions_hb_time"),
    "alarms": ("insert_alarms",),
    "device_events": ("insert_device_events",),
    "obd_readings": ("insert_obd_readings",),
    "fault_codes": ("insert_fault_codes",),
    "push_trip_reports": ("insert_push_trip_reports",),
    "fuel_readings": ("insert_fuel_readings",),
    "temperature_readings": ("insert_temperature_readings",),
    "lbs_readings": ("insert_lbs_readings",),
    "device_attribute_reports": ("insert_device_attribute_reports", "apply_device_attribute_reports"),
}
KNOWN_IMEIS_MAX = 200_000
#: Transient conflicts between concurrent requests (deadlock, serialization): the transaction is retried.
RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


def connection_kwargs(config: WebhookConfig) -> dict:
    """libpq settings that bound every wait on the database (issue 12: a stalled server means 503 in time):
    connecting (``connect_timeout``), unacknowledged data on a black-holed network (``tcp_user_timeout``),
    a dead peer (TCP keepalives), and on the server statements, lock waits and idle transactions. A server
    that accepts data but never answers (process frozen) is cut by the :class:`Watchdog`."""
    bound_ms = max(int(config.request_timeout_s * 1000), 1)
    return {
        "connect_timeout": config.connect_timeout_s,
        "application_name": "webhook_service",
        "keepalives": 1,
        "keepalives_idle": max(int(config.request_timeout_s), 1),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": bound_ms,
        "options": (f"-c statement_timeout={bound_ms} -c lock_timeout={bound_ms} "
                    f"-c idle_in_transaction_session_timeout={bound_ms * 2}"),
    }


class StalledDatabase(Exception):
    """The watchdog cut a connection whose request ran past its deadline."""


class _Guard:
    __slots__ = ("conn", "deadline", "fired")

    def __init__(self, conn, deadline: float):
        self.conn, self.deadline, self.fired = conn, deadline, False


class Watchdog:
    """Cuts (shuts down the socket of) a connection whose request is still running at its deadline, so a
    thread blocked on a frozen server or a black-holed network gets an error at once and the sender a 503.
    One background thread per store, started on first use; a guard costs a dict insert and delete."""

    TICK_S = 0.05

    def __init__(self):
        self._guards: dict[int, _Guard] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, conn, deadline: float):
        guard = _Guard(conn, deadline)
        key = id(guard)
        with self._lock:
            self._guards[key] = guard
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webhook-db-watchdog", daemon=True)
                self._thread.start()
        try:
            yield guard
        finally:
            with self._lock:
                self._guards.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK_S)
            now = time.monotonic()
            with self._lock:  # cut under the lock: a guard that has exited never gets its connection cut
                if not self._guards:  # idle: the thread ends; the next guard starts a new one
                    self._thread = None
                    return
                for g in self._guards.values():
                    if not g.fired and g.deadline <= now:
                        g.fired = True
                        self._cut(g.conn)

    @staticmethod
    def _cut(conn) -> None:
        try:
            fd = conn.pgconn.socket
            sock = socket.socket(fileno=os.dup(fd))
        except Exception:  # already closed
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
            log.warning("database request past its deadline: connection cut")
        except OSError:
            pass
        finally:
            sock.close()


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached (or went away mid-request): answer 503 so the sender retries."""


class RejectedByDatabase(ValueError):
    """The database refused a value that passed validation (e.g. out of range): a 400, nothing stored."""


@dataclass
class SaveResult:
    inbox_id: int
    replay: bool
    inserted: dict[str, int] = field(default_factory=dict)


_ENCODER = msgspec.json.Encoder()  # Decimal → "string", datetime → RFC 3339: both read exactly by PostgreSQL


def rows_json(rows: list[dict]) -> str:
    """Rows as the JSON array the SQL reads with jsonb_to_recordset, without ``raw`` (the SQL takes it from
    the items as received, by ``item`` index). Parsed values only: every number is finite by validation."""
    try:
        return _ENCODER.encode([{key: value for key, value in row.items() if key != "raw"} for row in rows]).decode()
    except UnicodeEncodeError as exc:  # a lone surrogate escape ("\ud800") decoded into a text value
        raise PushValidationError(f"a text value is not valid Unicode: {exc.reason}") from exc


def canonical_payload(path: str, form: dict[str, list[str]]) -> str:
    """The request as stored in push_inbox.payload and hashed for replay detection: path + every form field
    except the token (so a token rotation does not defeat replay detection, and no secret is stored)."""
    return json.dumps({"path": path, "form": form}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_sha256(path: str, form: dict[str, list[str]]) -> str:
    """Hash of :func:`canonical_payload`: what recognises a replay."""
    return _sha256(canonical_payload(path, form))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def describe_dsn(dsn: str) -> str:
    """host:port/dbname of a DSN, for logs (never the password)."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable dsn>"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '?')}"


def warm_up(conn: psycopg.Connection) -> None:
    """Run by the pool on each new connection before it serves a request: the backend's first PostGIS call
    loads the library (~10 ms of a ~20 ms first-request penalty, with the connection set-up), so that happens
    here, in the pool's background worker, not in a request."""
    conn.execute("SELECT ST_SetSRID(ST_MakePoint(0, 0), 4326)")
    conn.rollback()


class PushStore:
    """Connection pool + the per-request transaction. One per worker process (opened lazily after fork)."""

    def __init__(self, config: WebhookConfig):
        self.config = config
        self._sql = {name: read_sql("webhook", f"{name}.sql")
                     for names in STATEMENTS.values() for name in names}
        for name in ("insert_push_inbox", "count_push_replay", "ensure_unregistered_devices", "insert_push_quarantine"):
            self._sql[name] = read_sql("webhook", f"{name}.sql")
        self._pool = ConnectionPool(
            config.database_dsn,
            min_size=config.pool_max_size if config.pool_min_size is None else config.pool_min_size,
            max_size=config.pool_max_size,
            timeout=config.pool_timeout_s,
            open=False,
            name="webhook",
            # Keep trying to reconnect while the database is away; requests meanwhile get 503.
            reconnect_timeout=3600,
            configure=warm_up,
            kwargs=connection_kwargs(config),
        )
        self._watchdog = Watchdog()
        self._opened = False
        # IMEIs this process has seen committed in tracksolid.devices. Devices are never deleted (SPEC §3),
        # so they need no "create as unregistered" statement again (saves a statement on most requests).
        self._known_imeis: set[str] = set()

    def open(self) -> None:
        if not self._opened:
            self._opened = True
            self._pool.open(wait=False)

    def close(self) -> None:
        if self._opened:
            self._pool.close(timeout=5)
            self._opened = False

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless a pooled connection answers ``SELECT 1``."""
        self.open()
        self._with_retries(lambda conn: conn.execute("SELECT 1").fetchone())

    def save(self, batch: PushBatch, form: dict[str, list[str]]) -> SaveResult:
        """Store the raw request and its rows in one transaction; returns after COMMIT.

        All statements go to the server in one pipeline (one round trip instead of one per statement). When
        the inbox insert turns out to be a replay, the transaction is rolled back — so nothing of the replay
        is stored — and only the inbox row's replay counter is bumped."""
        self.open()
        payload = canonical_payload(batch.path, form)  # jsonb orders keys itself: one encoding serves both
        sha256 = _sha256(payload)  # = payload_sha256(batch.path, form), without encoding the request twice
        inbox = {
            "path": batch.path, "push_format": batch.push_format, "msg_type": batch.msg_type,
            "payload_sha256": sha256, "payload": payload,
            "item_count": batch.item_count, "status": batch.status,
        }
        # Sorted by destination so concurrent requests take locks in the same order.
        statements = []
        for destination, rows in sorted(batch.rows.items()):
            params = {"rows": rows_json(rows), "items": batch.items_json}
            if destination == "position_history":  # raw without the fields that are in the columns
                params["column_fields"] = gps_column_fields(self.config.event_time_fields["pushgps"])
            statements.extend((name, params) for name in STATEMENTS[destination])
        if batch.quarantine:
            statements.append(("insert_push_quarantine", {
                "rows": _ENCODER.encode(batch.quarantine).decode(), "items": batch.items_json,
                "payload_sha256": sha256, "path": batch.path}))
        new_imeis = [imei for imei in batch.imeis if imei not in self._known_imeis]
        if new_imeis:
            statements.insert(0, ("ensure_unregistered_devices", {"imeis": new_imeis}))

        def transaction(conn: psycopg.Connection) -> SaveResult:
            with conn.pipeline():
                inbox_cursor = conn.execute(self._sql["insert_push_inbox"], inbox)
                cursors = [(name, conn.execute(self._sql[name], params)) for name, params in statements]
            inbox_id, is_new = inbox_cursor.fetchone()
            if not is_new:
                conn.rollback()
                conn.execute(self._sql["count_push_replay"], {"payload_sha256": sha256})
                conn.commit()
                return SaveResult(inbox_id, replay=True)
            conn.commit()
            if len(self._known_imeis) < KNOWN_IMEIS_MAX:
                self._known_imeis.update(new_imeis)
            return SaveResult(inbox_id, replay=False, inserted={name: cur.rowcount for name, cur in cursors})

        return self._with_retries(transaction)

    def _with_retries(self, work):
        """Run ``work(conn)``. A lost connection (server restarted) is retried once on a checked pool — safe
        because a replay of a committed request is recognised by its hash; deadlocks are retried too."""
        attempts_left = {"lost": 1, "conflict": 3}
        deadline = time.monotonic() + self.config.request_timeout_s
        while True:
            try:
                with self._pool.connection() as conn, self._watchdog.guard(conn, deadline) as guard:
                    try:
                        return work(conn)
                    except psycopg.OperationalError as exc:
                        if guard.fired:
                            raise StalledDatabase from exc
                        raise
            except StalledDatabase as exc:
                # No retry: a check of the pool would wait on the same stalled server.
                raise DatabaseUnavailable(
                    f"no database answer within {self.config.request_timeout_s}s (connection cut)") from exc
            except PoolTimeout as exc:
                raise DatabaseUnavailable(f"no database connection within {self.config.pool_timeout_s}s") from exc
            except RETRYABLE as exc:
                if attempts_left["conflict"] == 0:
                    raise DatabaseUnavailable(f"transaction kept conflicting: {exc.sqlstate}") from exc
                attempts_left["conflict"] -= 1
                time.sleep(0.01)
            except psycopg.OperationalError as exc:
                if attempts_left["lost"] == 0:
                    raise DatabaseUnavailable(f"database error: {type(exc).__name__}") from exc
                attempts_left["lost"] -= 1
                log.warning("database connection lost (%s); checking the pool and retrying once",
                            type(exc).__name__)
                self._pool.check()  # drop every connection the restart broke
            except (pg_errors.QueryCanceled, pg_errors.LockNotAvailable) as exc:  # statement / lock timeout
                raise DatabaseUnavailable(f"database too slow: {exc.sqlstate}") from exc
            except (pg_errors.DataError, pg_errors.IntegrityError, pg_errors.ProgramLimitExceeded) as exc:
                # The database's own words stay in the log; the sender gets ours (app.py).
                log.warning("database rejected a validated request: %s (%s)", exc.diag.message_primary,
                            exc.sqlstate)
                raise RejectedByDatabase("a value of the request was rejected by the database") from exc

    def stats(self) -> dict:
        return self._pool.get_stats() if self._opened else {}
