"""Access tokens cached in ``tracksolid.api_token_cache``, shared by every process and worker.

A token is *fresh* until ``expires_at - margin``; the margin is the configured refresh margin, but never
more than a fifth of the token's lifetime (a short-lived token must not look stale the moment it is
issued, or every call would ask for a new one). Renewal happens inside a transaction holding a
per-(app_key, account) advisory lock, and the cache row is re-read under the lock: when another worker
renewed meanwhile, its token is used and no request is made — N concurrent tasks make one token request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fleet_db.settings import read_sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Token:
    access_token: str
    refresh_token: str | None
    issued_at: datetime
    expires_at: datetime

    def __repr__(self) -> str:  # never print the token itself
        return f"Token(issued_at={self.issued_at.isoformat()}, expires_at={self.expires_at.isoformat()})"

    def is_fresh(self, margin_s: float, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        lifetime = (self.expires_at - self.issued_at).total_seconds()
        margin = min(margin_s, max(lifetime, 0) / 5)
        return now < self.expires_at - timedelta(seconds=margin)


class TokenCache:
    """The database side of token handling; the API side is the ``obtain`` callable of :meth:`get`."""

    def __init__(
        self,
        connect: Callable[[], object],
        *,
        app_key: str,
        account: str,
        margin_s: float,
        lock_timeout_s: float,
    ) -> None:
        self._connect = connect
        self._conn = None
        self.key = {"app_key": app_key, "account": account}
        self.margin_s = margin_s
        self.lock_timeout_s = lock_timeout_s

    def _connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            self._conn.autocommit = False
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def _read(self, cur) -> Token | None:
        cur.execute(read_sql("tracksolid_hook", "token_cache_read.sql"), self.key)
        row = cur.fetchone()
        return Token(*row) if row else None

    def read(self) -> Token | None:
        """The cached token, whatever its age (no lock)."""
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                return self._read(cur)
        finally:
            conn.rollback()  # end the read-only transaction; never hold a snapshot open

    def get(self, obtain: Callable[[Token | None], Token], *, stale: str | None = None) -> Token:
        """A fresh token: the cached one, or one obtained under the lock by ``obtain(cached)``.

        ``stale`` is a token the platform just rejected (code 1004): it is never returned again, but
        a different token another worker stored meanwhile is.
        """
        def usable(token: Token | None) -> bool:
            return token is not None and token.access_token != stale and token.is_fresh(self.margin_s)

        cached = self.read()
        if usable(cached):
            return cached
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(self.lock_timeout_s * 1000)}ms",))
                cur.execute(read_sql("tracksolid_hook", "token_cache_lock.sql"), self.key)
                cached = self._read(cur)
                if usable(cached):
                    conn.rollback()
                    return cached
                # obtain() gets the cached (possibly rejected) token: refreshing an expired token may
                # still work; obtain() falls back to a new one when it does not.
                token = obtain(cached)
                cur.execute(
                    read_sql("tracksolid_hook", "token_cache_upsert.sql"),
                    {
                        **self.key,
                        "access_token": token.access_token,
                        "refresh_token": token.refresh_token,
                        "issued_at": token.issued_at,
                        "expires_at": token.expires_at,
                    },
                )
            conn.commit()
            log.info("Tracksolid token renewed for account %s, valid until %s",
                     self.key["account"], token.expires_at.isoformat())
            return token
        except BaseException:
            conn.rollback()
            raise
