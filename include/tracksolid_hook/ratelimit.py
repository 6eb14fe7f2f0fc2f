"""A request-rate limiter shared by every process of one worker.

Mapped tasks run as separate processes under the LocalExecutor (and Celery's prefork), so a per-process
limiter would let N tasks send N × the rate. This one keeps its state in a small file in a shared
directory and serialises access with ``fcntl.flock``: each caller reserves the next free send slot
(``slot = max(now, next_free)``, then ``next_free = slot + 1/rate``) and sleeps until it. Request starts
are therefore at least ``1/rate`` apart across all processes using the same file — within any window of
``T`` seconds at most ``T × rate + 1`` requests start. The file is keyed by the app key and endpoint, so
one bucket covers every task using the same Tracksolid credentials on this machine. Several machines
need a rate per machine of ``max_requests_per_s / workers`` (set the extra accordingly).

Why a file and not the database: the database is shared across machines (a wrong scope for a per-worker
limit) and a row lock per request would put a write on the hot path of every call.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import time
from collections.abc import Callable

_STATE = struct.Struct("<d")  # next free send time (epoch seconds, float64)
#: A reservation further ahead than this is a stale file (clock jump, reboot): reset it.
_MAX_HORIZON_S = 3600.0


class FileRateLimiter:
    """Cross-process pacing to ``rate`` requests per second through the file ``path``."""

    def __init__(
        self,
        path: str,
        rate: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.path = path
        self.rate = rate
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)

    @classmethod
    def for_endpoint(cls, directory: str, app_key: str, url: str, rate: float) -> FileRateLimiter:
        key = hashlib.sha256(f"{app_key}|{url}".encode()).hexdigest()[:16]
        return cls(os.path.join(directory, f"tracksolid-{key}.rate"), rate)

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
