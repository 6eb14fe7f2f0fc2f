"""libpq settings from Airflow connections, and the PostgreSQL client binaries (pg_dump, pg_restore).

Passwords go to child processes through ``PGPASSWORD`` in their environment, never on a command line.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class PgTarget:
    """Where a database lives and who connects (the password is kept out of ``repr``)."""

    host: str
    port: int
    user: str
    dbname: str
    password: str | None = None

    def __repr__(self) -> str:
        return f"PgTarget({self.user}@{self.host}:{self.port}/{self.dbname})"

    def env(self, dbname: str | None = None) -> dict[str, str]:
        """The libpq environment for a child process (inherits the rest of ``os.environ``)."""
        env = {**os.environ, "PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
               "PGDATABASE": dbname or self.dbname}
        if self.password:
            env["PGPASSWORD"] = self.password
        else:
            env.pop("PGPASSWORD", None)
        return env

    def connect(self, dbname: str | None = None, **kwargs):
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                dbname=dbname or self.dbname, application_name="fleet_ops", **kwargs)

    def with_dbname(self, dbname: str) -> PgTarget:
        return PgTarget(self.host, self.port, self.user, dbname, self.password)


def target_from_connection(conn_id: str) -> PgTarget:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if not conn.schema:
        raise ValueError(f"connection {conn_id!r} names no database (schema)")
    return PgTarget(conn.host or "127.0.0.1", int(conn.port or 5432), conn.login or "postgres", conn.schema,
                    conn.password or None)


def admin_conn_id(database: str) -> str:
    """``<database>_admin`` when that connection exists (backups need a role that reads every table and may
    create databases), else the ``<database>`` connection itself."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(f"{database}_admin")
        return f"{database}_admin"
    except AirflowNotFoundException:
        return database


def pg_binary(name: str) -> str:
    """``$FLEET_PG_BIN_DIR/<name>`` when set (e.g. /usr/lib/postgresql/16/bin), else ``<name>`` on PATH.
    The client must be at least as new as the server."""
    bin_dir = os.environ.get("FLEET_PG_BIN_DIR")
    path = os.path.join(bin_dir, name) if bin_dir else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{name} not found (set FLEET_PG_BIN_DIR or install the PostgreSQL client)")
    return path
