"""Create databases and set role passwords — the deploy-time steps that are not migrations."""

from __future__ import annotations

import argparse
import logging
import os

import psycopg2
from psycopg2 import sql

from fleet_db.settings import ADMIN_DSN, DATABASES

log = logging.getLogger(__name__)

#: role -> environment variable holding its password (never written in SQL files).
ROLE_PASSWORD_ENV = {
    "tracksolid_owner": "TRACKSOLID_OWNER_PASSWORD",
    "dwh_owner": "DWH_OWNER_PASSWORD",
    "grafana_ro": "GRAFANA_RO_PASSWORD",
}


def _autocommit(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


def ensure_database(name: str, admin_dsn: str = ADMIN_DSN) -> bool:
    """Create database ``name`` when missing. Returns True when it was created."""
    conn = _autocommit(admin_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log.info("created database %s", name)
            return True
    finally:
        conn.close()


def drop_database(name: str, admin_dsn: str = ADMIN_DSN) -> None:
    conn = _autocommit(admin_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


def set_role_passwords(admin_dsn: str = ADMIN_DSN, environ: dict | None = None) -> list[str]:
    """Set each role's password from its environment variable; roles without a value are left alone."""
    environ = os.environ if environ is None else environ
    changed = []
    conn = _autocommit(admin_dsn)
    try:
        with conn.cursor() as cur:
            for role, var in ROLE_PASSWORD_ENV.items():
                password = environ.get(var)
                if not password:
                    continue
                # The password is a bound literal: it never reaches a log line or an SQL file.
                cur.execute(
                    sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD %s").format(sql.Identifier(role)), (password,)
                )
                changed.append(role)
    finally:
        conn.close()
    return changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fleet_db.admin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-databases", help="create tracksolid_db and tracksolid_dwh when missing")
    create.add_argument("--admin-dsn", default=ADMIN_DSN)
    pw = sub.add_parser("set-passwords", help="set role passwords from " + ", ".join(ROLE_PASSWORD_ENV.values()))
    pw.add_argument("--admin-dsn", default=ADMIN_DSN)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "create-databases":
        for name in DATABASES:
            print(f"{name}: {'created' if ensure_database(name, args.admin_dsn) else 'exists'}")
    else:
        changed = set_role_passwords(args.admin_dsn)
        print("passwords set for: " + (", ".join(changed) or "no role (no *_PASSWORD variable set)"))


if __name__ == "__main__":
    main()
