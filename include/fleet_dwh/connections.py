"""psycopg2 connections for the warehouse steps, resolved through the Airflow ``PostgresHook``.

``PostgresHook.get_conn()`` returns a psycopg 3 connection when psycopg 3 is installed (provider 7.x); the
warehouse code streams with psycopg2's ``copy_expert`` (the same code runs under the tests' psycopg2
connections), so the DAG tasks ask the hook for the connection's settings and open a psycopg2 connection.
"""

from __future__ import annotations

#: Connection extras passed through to libpq as they are.
LIBPQ_EXTRAS = ("sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "application_name", "options",
                "connect_timeout", "keepalives", "keepalives_idle", "target_session_attrs")


def connect(conn_id: str):
    """A psycopg2 connection for the Airflow connection ``conn_id`` (type postgres)."""
    import psycopg2
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=conn_id)
    conn = hook.get_connection(conn_id)
    extras = {k: v for k, v in (conn.extra_dejson or {}).items() if k in LIBPQ_EXTRAS}
    return psycopg2.connect(
        host=conn.host or "127.0.0.1", port=conn.port or 5432, user=conn.login, password=conn.password,
        dbname=conn.schema or hook.database, application_name=extras.pop("application_name", f"fleet_dwh:{conn_id}"),
        **extras,
    )
