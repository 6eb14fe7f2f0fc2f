"""Ordered, checksummed SQL migrations.

Files live in ``include/sql/migrations/<database>/NNNN_what_it_does.sql``. Each file is applied in its own
transaction and recorded in ``public.schema_migrations`` with the SHA-256 of its bytes. A released file must
never change: if an applied file's checksum differs, the runner stops and names the file. A session-level
advisory lock serialises concurrent runners (two schedulers, the demo and a test), so each file is applied
exactly once.

Used by the ``db_migrations`` DAG, ``make demo`` and the tests::

    python -m fleet_db.migrations --migrations tracksolid_db --dsn "host=127.0.0.1 dbname=my_copy" [--dry-run]

``--migrations`` names the migration *set* (the folder ``include/sql/migrations/<set>``); the database written is
the one in ``--dsn`` (default: the database named like the set, on the admin DSN). ``--database`` is accepted as
an older spelling of ``--migrations``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from fleet_db.settings import ADMIN_DSN, DATABASES, MIGRATIONS_DIR, dsn_with_dbname

log = logging.getLogger(__name__)

FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every runner of this project.
ADVISORY_LOCK_KEY = 0x7472_6B73  # "trks"

CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL
)
"""


class MigrationError(RuntimeError):
    """A migration could not be applied, or the ledger disagrees with the files."""


class ChecksumMismatch(MigrationError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Outcome:
    migration: Migration
    status: str  # "applied" | "pending" (dry run)
    duration_ms: int = 0


def discover(database: str, root: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migration files of one database, in version order. Unexpected file names are an error."""
    folder = root / database
    if not folder.is_dir():
        raise MigrationError(f"no migrations folder for database {database!r}: {folder}")
    found: list[Migration] = []
    for path in sorted(folder.iterdir()):
        if path.suffix != ".sql":
            continue
        match = FILENAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name must look like 0001_what_it_does.sql: {path.name}")
        found.append(Migration(match["version"], match["name"], path))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"duplicate migration version in {folder}: {versions}")
    return found


def _applied(cur) -> dict[str, tuple[str, str]]:
    cur.execute("SELECT version, name, checksum FROM public.schema_migrations")
    return {version: (name, checksum) for version, name, checksum in cur.fetchall()}


def pending(conn, database: str, root: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Files not applied yet; raises ChecksumMismatch when an applied file was edited."""
    migrations = discover(database, root)
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.schema_migrations')")
        applied = _applied(cur) if cur.fetchone()[0] else {}
    for m in migrations:
        if m.version in applied and applied[m.version][1] != m.checksum:
            raise ChecksumMismatch(
                f"migration {database}/{m.filename} was edited after it was applied "
                f"(recorded checksum {applied[m.version][1][:12]}…, file now {m.checksum[:12]}…). "
                "Released migrations are never edited: add a new numbered file instead."
            )
    return [m for m in migrations if m.version not in applied]


def migrate(conn, database: str, *, dry_run: bool = False, root: Path = MIGRATIONS_DIR) -> list[Outcome]:
    """Apply every pending migration of ``database`` on ``conn`` (a psycopg2 connection).

    With ``dry_run`` nothing is written: the pending files are returned with status "pending".
    """
    conn.autocommit = True
    with conn.cursor() as cur:
        # Held for the whole run; a second runner waits here, then finds nothing pending.
        cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        if dry_run:
            return [Outcome(m, "pending") for m in pending(conn, database, root)]
        with conn.cursor() as cur:
            cur.execute(CREATE_LEDGER)
        outcomes = []
        for m in pending(conn, database, root):
            outcomes.append(_apply_one(conn, database, m))
        return outcomes
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def _apply_one(conn, database: str, m: Migration) -> Outcome:
    body = m.path.read_text(encoding="utf-8")
    started = time.monotonic()
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(body)
            duration_ms = int((time.monotonic() - started) * 1000)
            cur.execute(
                "INSERT INTO public.schema_migrations (version, name, checksum, duration_ms) VALUES (%s, %s, %s, %s)",
                (m.version, m.name, m.checksum, duration_ms),
            )
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise MigrationError(f"migration {database}/{m.filename} failed and was rolled back: {exc}") from exc
    finally:
        conn.autocommit = True
    log.info("applied %s/%s in %d ms", database, m.filename, duration_ms)
    return Outcome(m, "applied", duration_ms)


def migrate_dsn(dsn: str, database: str, *, dry_run: bool = False) -> list[Outcome]:
    conn = psycopg2.connect(dsn)
    try:
        return migrate(conn, database, dry_run=dry_run)
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet_db.migrations", description=__doc__.split("\n")[0])
    parser.add_argument("--migrations", "--database", dest="sets", choices=DATABASES, action="append",
                        help="migration set to apply, i.e. the folder include/sql/migrations/<set> (repeatable; "
                             "default: both). It does not choose the database: --dsn does")
    parser.add_argument("--dsn", help="libpq DSN of the database to migrate; default: the admin DSN with dbname "
                                      "set to the migration set's name")
    parser.add_argument("--dry-run", action="store_true", help="list pending files, apply nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for database in args.sets or DATABASES:
        dsn = args.dsn or dsn_with_dbname(ADMIN_DSN, database)
        outcomes = migrate_dsn(dsn, database, dry_run=args.dry_run)
        if not outcomes:
            print(f"{database}: up to date")
        for o in outcomes:
            print(f"{database}: {o.status:8} {o.migration.filename}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
