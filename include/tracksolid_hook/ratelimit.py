"""Request-rate limiters shared by every process that calls the API with the same credentials.

Mapped tasks run as separate processes (LocalExecutor, Celery's prefork workers, several machines), so a
per-process limiter would let N tasks send N × the rate. Both limiters here pace *send slots*: each caller
reserves the next free slot (``slot = max(now, next_free)``, then ``next_free = slot + spacing``) and sleeps
until it, so request starts are at least ``spacing`` apart across every process sharing the state.

- :class:`DatabaseRateLimiter` (the default, extra ``rate_limiter = "database"``) keeps the state in
  ``tracksolid.api_rate_limit`` in the live database — the one the token cache uses — so every worker on
  every machine shares one limit per app key + endpoint. A reservation is one statement (one round trip);
  the slot is on the database server's clock, so machines with skewed clocks still space correctly.
- :class:`FileRateLimiter` (``rate_limiter = "file"``) keeps it in a file under ``fcntl.flock``: one limit
  per machine only (several machines would each send at the full rate).

The spacing (:func:`pacing_interval`) keeps the rate *strictly* under ``max_requests_per_s``: with
``n = floor(rate × window_s)`` requests allowed per window, slots are ``(window_s + guard_s) / n`` apart
(and never less than ``1 / rate``), so any window of ``window_s`` seconds holds at most ``n`` request starts
even when the network or the scheduler delays one send by up to ``guard_s`` relative to another, and a
server that counts per window, or refills a token bucket at ``rate``, never sees an excess.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import struct
import time
from collections.abc import Callable

from fleet_db.settings import read_sql

log = logging.getLogger(__name__)

_STATE = struct.Struct("<d")  # next free send time (epoch seconds, float64)
#: A reservation further ahead than this is stale state (clock jump, reboot): reset it.
_MAX_HORIZON_S = 3600.0


def pacing_interval(rate: float, window_s: float = 1.0, guard_s: float = 0.0) -> float:
    """Seconds between send slots so that any ``window_s`` holds at most ``floor(rate × window_s)``
    starts, with ``guard_s`` of slack for send jitter (see the module docstring)."""
    if rate <= 0 or window_s <= 0 or guard_s < 0:
        raise ValueError(f"need rate > 0, window_s > 0, guard_s >= 0; got {rate}, {window_s}, {guard_s}")
    per_window = math.floor(rate * window_s + 1e-9)
    if per_window < 1:  # fewer than one request per window: the rate alone decides
        return 1.0 / rate + guard_s
    return max(1.0 / rate, (window_s + guard_s) / per_window)


def bucket_key(app_key: str, url: str) -> str:
    """One bucket per app key and endpoint (hashed: the app key itself is never stored)."""
    return hashlib.sha256(f"{app_key}|{url}".encode()).hexdigest()[:16]


class FileRateLimiter:
    """Cross-process pacing through the file ``path`` (one machine): slots ``interval`` apart (default
    ``1/rate``)."""

    def __init__(
        self,
        path: str,
        rate: float,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.path = path
        self.rate = rate
        self.interval = interval if interval is not None else 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)

    @classmethod
    def for_endpoint(cls, directory: str, app_key: str, url: str, rate: float,
                     interval: float | None = None) -> FileRateLimiter:
        return cls(os.path.join(directory, f"tracksolid-{bucket_key(app_key, url)}.rate"), rate,
                   interval=interval)

    def reserve(self) -> tuple[float, float]:
        """Reserve the next send slot; return ``(slot, wait)``: its clock time and the seconds to wait."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = os.pread(fd, _STATE.size, 0)
            now = self._clock()
            next_free = _STATE.unpack(data)[0] if len(data) == _STATE.size else 0.0
            if next_free - now > _MAX_HORIZON_S:
                next_free = now
            slot = max(now, next_free)
            os.pwrite(fd, _STATE.pack(slot + self.interval), 0)
            return slot, slot - now
        finally:
            os.close(fd)  # closing releases the flock

    def acquire(self) -> float:
        """Block until this process may send one request; return the reserved slot (clock time)."""
        slot, wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return slot

    def close(self) -> None:
        """Nothing to release (the file is opened per reservation)."""


class DatabaseRateLimiter:
    """Pacing shared through ``tracksolid.api_rate_limit`` by every process that can reach the database.

    ``connect`` returns a DB-API connection to the live database (opened lazily, kept, autocommit,
    ``synchronous_commit`` off: the table is unlogged and a lost reservation only resets the pacing).
    When the database cannot be reached, ``fallback`` (a per-machine :class:`FileRateLimiter`) paces the
    call instead, with a warning, and the next call tries the database again.
    """

    def __init__(
        self,
        connect: Callable[[], object],
        bucket: str,
        interval: float,
        *,
        fallback: FileRateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self._connect = connect
        self._conn = None
        self.bucket = bucket
        self.interval = interval
        self.fallback = fallback
        self._sleep = sleep
        self._sql = read_sql("tracksolid_hook", "rate_limit_reserve.sql")
        #: Seconds the last reservation's round trip took (the limiter's own overhead per call), and totals
        #: over this limiter's life: reservations, their round trips, and the time spent waiting for slots.
        self.last_overhead_s = 0.0
        self.stats = {"reservations": 0, "overhead_s": 0.0, "waited_s": 0.0}

    def _connection(self):
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SET synchronous_commit TO off")
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def reserve(self) -> tuple[float, float]:
        """Reserve the next send slot; ``(slot, wait)`` — the slot on the database clock (epoch seconds)
        and the seconds to wait for it."""
        started = time.perf_counter()
        with self._connection().cursor() as cur:
            cur.execute(self._sql, {"bucket": self.bucket, "spacing_s": self.interval,
                                    "horizon_s": _MAX_HORIZON_S})
            slot, wait = cur.fetchone()
        self.last_overhead_s = time.perf_counter() - started
        self.stats["reservations"] += 1
        self.stats["overhead_s"] += self.last_overhead_s
        return float(slot), float(wait)

    def acquire(self) -> float:
        """Block until this process may send one request; return the reserved slot."""
        try:
            slot, wait = self.reserve()
        except Exception as exc:
            if self.fallback is None:
                raise
            log.warning("rate limiter: database unavailable (%s); pacing on this machine only for this call",
                        type(exc).__name__)
            self.close()
            return self.fallback.acquire()
        if wait > 0:
            self._sleep(wait)
            self.stats["waited_s"] += wait
        return slot
