"""A throw-away PostgreSQL 15 cluster the test controls: initdb, start on a free port, restart, stop, delete.

The shared local server must never be restarted by a test; this cluster is private to one test module. It
runs as the ``postgres`` OS user when the tests run as root (initdb refuses root), with trust auth on
127.0.0.1 and its socket in its own directory. Databases are migrated with ``fleet_db.migrations`` (the live
migrations create the PostGIS extension from the same installation).
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
from psycopg2 import sql

from tests.fixtures.s3 import free_port

log = logging.getLogger(__name__)

PG_BIN = Path(os.environ.get("FLEET_SCRATCH_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ScratchCluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fleet-scratch-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self.port = free_port()
        self.restarts = 0
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    # ------------------------------------------------------------------------------------------ process ----
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr or result.stdout}"
                               f"\n{self.server_log()[-2000:]}")
        return result

    def server_log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def init(self) -> None:
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.logfile, "-o", opts, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "immediate") -> float:
        """Stop (``immediate``: no clean shutdown, every connection cut, crash recovery at start) and start
        again on the same port. Returns the seconds it took."""
        started = time.monotonic()
        self.stop(mode)
        self.start()
        self.restarts += 1
        took = time.monotonic() - started
        log.info("scratch cluster on port %s restarted (%s) in %.2fs", self.port, mode, took)
        return took

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------------------------------- databases --
    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def execute(self, statement: str, dbname: str = "postgres") -> None:
        conn = psycopg2.connect(self.dsn(dbname))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def create_migrated(self, name: str, kind: str) -> str:
        """Create database ``name`` and apply every ``kind`` migration (tracksolid_db / tracksolid_dwh)."""
        from fleet_db.migrations import migrate_dsn

        self.execute(f'CREATE DATABASE "{name}"')
        migrate_dsn(self.dsn(name), kind)
        return self.dsn(name)

    def copy_database(self, template: str, name: str) -> str:
        conn = psycopg2.connect(self.dsn())
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                             sql.Identifier(template)))
                cur.execute("UPDATE pg_database SET datacl = (SELECT datacl FROM pg_database WHERE datname = %s)"
                            " WHERE datname = %s", (template, name))
        finally:
            conn.close()
        return self.dsn(name)
