"""Least privilege: grafana_ro reads everything but secrets and writes nothing; the writers write only their side.
The full table × role × privilege check is tests/test_privilege_matrix.py."""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2.extensions import parse_dsn

from fleet_db.privileges import EXCEPTIONS
from fleet_db.settings import dsn_with_dbname

LIVE_SCHEMAS = ("tracksolid", "ops", "public")
DWH_SCHEMAS = ("bronze", "silver", "gold", "dwh_control", "public")


def connect_as(dsn: str, role: str):
    params = parse_dsn(dsn)
    conn = psycopg2.connect(dsn_with_dbname(f"host={params.get('host', '127.0.0.1')} port={params.get('port', 5432)} "
                                            f"user={role}", params["dbname"]))
    conn.autocommit = True
    return conn


def relations(conn, schemas, kinds=("r", "v", "p")) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(%s) AND c.relkind = ANY(%s)
              AND NOT (n.nspname = 'public' AND c.relname IN ('spatial_ref_sys', 'geography_columns',
                       'geometry_columns'))  -- PostGIS catalogue, readable by PUBLIC anyway
            ORDER BY 1
            """,
            (list(schemas), list(kinds)),
        )
        return [r[0] for r in cur.fetchall()]


def fails(conn, statement: str) -> bool:
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    except psycopg2.errors.InsufficientPrivilege:
        return True
    return False


@pytest.mark.parametrize("which", ["live", "dwh"])
def test_grafana_ro_reads_every_relation_and_writes_nothing(which, live_conn, dwh_conn, live_db, dwh_db):
    admin, dsn, schemas = (live_conn, live_db, LIVE_SCHEMAS) if which == "live" else (dwh_conn, dwh_db, DWH_SCHEMAS)
    tables = relations(admin, schemas)
    assert len(tables) >= (19 if which == "live" else 3)
    ro = connect_as(dsn, "grafana_ro")
    secrets = {name for name, grants in EXCEPTIONS["tracksolid_db" if which == "live" else "tracksolid_dwh"].items()
               if "SELECT" not in grants.get("grafana_ro", ())}
    try:
        for table in tables:
            if table in secrets:  # e.g. the live token cache: grafana_ro must NOT read it
                assert fails(ro, f"SELECT * FROM {table} LIMIT 1"), table
                continue
            with ro.cursor() as cur:
                cur.execute(f"SELECT * FROM {table} LIMIT 1")  # must not raise
        for table in relations(admin, schemas, kinds=("r", "p")):
            assert fails(ro, f"INSERT INTO {table} DEFAULT VALUES"), table
            assert fails(ro, f"UPDATE {table} SET {first_column(admin, table)} = NULL"), table
            assert fails(ro, f"DELETE FROM {table}"), table
        for schema in schemas:
            assert fails(ro, f"CREATE TABLE {schema}.grafana_was_here (id int)"), schema
            assert fails(ro, f"CREATE VIEW {schema}.grafana_view AS SELECT 1"), schema
        assert fails(ro, "CREATE TEMP TABLE grafana_temp (id int)")
    finally:
        ro.close()


def first_column(conn, table: str) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = %s::regclass AND attnum = 1",
                    (table,))
        return cur.fetchone()[0]


def test_tracksolid_owner_writes_live_tables_but_changes_no_schema(live_db):
    owner = connect_as(live_db, "tracksolid_owner")
    try:
        with owner.cursor() as cur:
            cur.execute("INSERT INTO tracksolid.devices (imei) VALUES ('860000000000009')")
            cur.execute("UPDATE tracksolid.devices SET driver_name = 'Wanjiru' WHERE imei = '860000000000009'")
            cur.execute("INSERT INTO tracksolid.ingestion_log (method) VALUES ('jimi.user.device.list')")
            cur.execute("CREATE TEMP TABLE staging (id int)")  # COPY staging is allowed
        assert fails(owner, "CREATE TABLE tracksolid.not_mine (id int)")
        assert fails(owner, "DROP TABLE tracksolid.devices")
        assert fails(owner, "DELETE FROM tracksolid.position_history")
    finally:
        owner.close()


def test_dwh_owner_writes_the_warehouse_and_only_reads_the_live_side(live_db, dwh_db):
    live = connect_as(live_db, "dwh_owner")
    dwh = connect_as(dwh_db, "dwh_owner")
    try:
        with live.cursor() as cur:
            cur.execute("SELECT count(*) FROM tracksolid.position_history")
        assert fails(live, "INSERT INTO tracksolid.devices (imei) VALUES ('x')")
        with dwh.cursor() as cur:
            cur.execute("INSERT INTO dwh_control.extract_watermarks (table_name, watermark_column) VALUES ('t', 'c')")
            cur.execute("DELETE FROM dwh_control.extract_watermarks")
        assert fails(dwh, "CREATE TABLE gold.not_mine (id int)")
    finally:
        live.close()
        dwh.close()
