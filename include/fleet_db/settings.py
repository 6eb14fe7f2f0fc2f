"""Locations and connection settings, all overridable from the environment."""

from __future__ import annotations

import os
from pathlib import Path

#: include/sql — the SQL files live beside the Python packages under include/.
SQL_DIR = Path(os.environ.get("FLEET_SQL_DIR", Path(__file__).resolve().parents[1] / "sql"))
MIGRATIONS_DIR = SQL_DIR / "migrations"

#: The two databases and their Airflow connection ids (SPEC §10).
LIVE_DB = "tracksolid_db"
DWH_DB = "tracksolid_dwh"
DATABASES = (LIVE_DB, DWH_DB)

#: Admin DSN used to create databases locally (dev / demo / tests). Trust auth on the dev machine.
ADMIN_DSN = os.environ.get("FLEET_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def sql_path(*parts: str) -> Path:
    """Path of a file under include/sql, e.g. ``sql_path("dwh", "load_bronze.sql")``."""
    return SQL_DIR.joinpath(*parts)


def read_sql(*parts: str) -> str:
    return sql_path(*parts).read_text(encoding="utf-8")


def dsn_with_dbname(dsn: str, dbname: str) -> str:
    """Replace (or add) ``dbname`` in a libpq key=value DSN or a postgresql:// URI."""
    from psycopg2.extensions import make_dsn, parse_dsn

    params = parse_dsn(dsn)
    params["dbname"] = dbname
    return make_dsn(**params)


def postgres_conn_json(dsn: str) -> str:
    """An ``AIRFLOW_CONN_*`` value (JSON form) for a libpq DSN — used by the demo, `make up` and the tests."""
    import json

    from psycopg2.extensions import parse_dsn

    p = parse_dsn(dsn)
    return json.dumps({
        "conn_type": "postgres",
        "host": p.get("host", "127.0.0.1"),
        "port": int(p.get("port", 5432)),
        "login": p.get("user", "postgres"),
        "password": p.get("password"),
        "schema": p["dbname"],
    })
