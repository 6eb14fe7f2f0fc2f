"""Every table and view of both databases against the declared privilege matrix (fleet_db.privileges):
a grant nobody declared — e.g. grafana_ro reading the live token cache — fails here."""

from __future__ import annotations

import psycopg2
import pytest

from fleet_db.privileges import EXCEPTIONS, audit
from tests.test_roles import connect_as


@pytest.mark.parametrize("database", ["tracksolid_db", "tracksolid_dwh"])
def test_every_relation_matches_the_declared_matrix(database, live_conn, dwh_conn):
    conn = live_conn if database == "tracksolid_db" else dwh_conn
    checked, differences, undeclared = audit(conn, database)
    assert len(checked) >= (20 if database == "tracksolid_db" else 20)
    assert not undeclared, f"relations in schemas the matrix does not declare: {undeclared}"
    assert not differences, "privileges differ from fleet_db.privileges:\n" + "\n".join(map(str, differences))


def test_the_token_cache_is_the_ingestion_roles_alone(live_db, live_conn):
    assert "tracksolid.api_token_cache" in EXCEPTIONS["tracksolid_db"]
    with live_conn.cursor() as cur:
        cur.execute("INSERT INTO tracksolid.api_token_cache (app_key, account, access_token, refresh_token, "
                    "issued_at, expires_at) VALUES ('K', 'acc', 'a-live-token', 'r', now(), now())")
    for role in ("grafana_ro", "dwh_owner"):
        conn = connect_as(live_db, role)
        try:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cur:
                cur.execute("SELECT access_token FROM tracksolid.api_token_cache")
        finally:
            conn.close()
    owner = connect_as(live_db, "tracksolid_owner")
    try:
        with owner.cursor() as cur:
            cur.execute("SELECT access_token FROM tracksolid.api_token_cache")
            assert cur.fetchall() == [("a-live-token",)]
    finally:
        owner.close()


@pytest.mark.parametrize("grant", [
    "GRANT SELECT ON tracksolid.api_token_cache TO grafana_ro",
    "GRANT SELECT (access_token) ON tracksolid.api_token_cache TO dwh_owner",
    "GRANT DELETE ON tracksolid.position_history TO tracksolid_owner",
    "GRANT INSERT ON tracksolid.devices TO grafana_ro",
    "GRANT SELECT ON tracksolid.api_token_cache TO PUBLIC",
    "CREATE TABLE tracksolid.new_table_someone_added (id int); GRANT DELETE ON tracksolid.new_table_someone_added "
    "TO grafana_ro",
    "CREATE SCHEMA scratch; CREATE TABLE scratch.t (id int)",
])
def test_a_widening_grant_is_caught(grant, live_conn):
    # (role memberships are cluster-wide, so they are not planted here: other sessions share the roles)
    with live_conn.cursor() as cur:
        cur.execute(grant)
    _, differences, undeclared = audit(live_conn, "tracksolid_db")
    assert differences or undeclared, grant
    assert all(d.held for d in differences)


def test_a_missing_declared_privilege_is_caught(live_conn):
    with live_conn.cursor() as cur:
        cur.execute("REVOKE UPDATE ON tracksolid.devices FROM tracksolid_owner")
    _, differences, _ = audit(live_conn, "tracksolid_db")
    assert [str(d) for d in differences] == ["tracksolid_owner lacks UPDATE on tracksolid.devices (declared)"]
