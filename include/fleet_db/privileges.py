"""The declared privilege matrix: which role may do what on every table and view of both databases.

Per-schema defaults by relation kind (table or view), plus explicit per-relation exceptions (secrets).
:func:`audit` reads the *effective* privileges from the catalogue (``has_table_privilege`` /
``has_any_column_privilege``, so grants through role membership, ``PUBLIC`` and column-level grants count)
for every relation of the database and returns every difference: a privilege held but not declared, or
declared but missing. A relation in a schema the matrix does not know is a difference too, so nothing new
is readable by anyone unnoticed. Objects owned by extensions (PostGIS catalogue) are left out.

Rules: ``grafana_ro`` reads (SELECT only) every view and every non-secret table; each owner writes its own
side (``tracksolid_owner``: SELECT/INSERT/UPDATE in ``tracksolid`` and ``ops``, never DELETE/TRUNCATE;
``dwh_owner``: everything but REFERENCES/TRIGGER in the warehouse schemas, SELECT on the live side); views
are read-only for everyone; ``tracksolid.api_token_cache`` (live tokens) is the ingestion role's alone.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("tracksolid_owner", "dwh_owner", "grafana_ro", "PUBLIC")
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

R = frozenset({"SELECT"})
RW = frozenset({"SELECT", "INSERT", "UPDATE"})
ALL_DML = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"})
NONE = frozenset()

_LIVE_SCHEMA = {
    "table": {"tracksolid_owner": RW, "dwh_owner": R, "grafana_ro": R},
    "view": {"tracksolid_owner": R, "dwh_owner": R, "grafana_ro": R},
}
_DWH_SCHEMA = {
    "table": {"dwh_owner": ALL_DML, "grafana_ro": R},
    "view": {"dwh_owner": R, "grafana_ro": R},
}
_LEDGER = {"table": {"dwh_owner": R, "grafana_ro": R}, "view": {}}

#: database → schema → kind → role → privileges (roles not listed: none).
SCHEMA_DEFAULTS: dict[str, dict[str, dict[str, dict[str, frozenset]]]] = {
    "tracksolid_db": {"tracksolid": _LIVE_SCHEMA, "ops": _LIVE_SCHEMA, "public": _LEDGER},
    "tracksolid_dwh": {"bronze": _DWH_SCHEMA, "silver": _DWH_SCHEMA, "gold": _DWH_SCHEMA,
                       "dwh_control": _DWH_SCHEMA, "public": _LEDGER},
}

#: database → "schema.relation" → role → privileges; replaces the schema default for that relation entirely.
EXCEPTIONS: dict[str, dict[str, dict[str, frozenset]]] = {
    "tracksolid_db": {
        # live access and refresh tokens: read and renewed by the ingestion role only
        "tracksolid.api_token_cache": {"tracksolid_owner": RW},
    },
    "tracksolid_dwh": {},
}

_RELATIONS = """
SELECT n.nspname, c.relname, c.oid::bigint, CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
  AND n.nspname NOT LIKE '\\_timescaledb%%' AND n.nspname NOT IN ('timescaledb_information',
      'timescaledb_experimental', 'toolkit_experimental')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
  AND NOT c.relispartition
ORDER BY 1, 2
"""

#: Effective privileges of a role on a relation; column-level grants count for the column privileges.
_HAS = """
SELECT CASE WHEN %(priv)s IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
            THEN has_any_column_privilege(%(role)s, %(oid)s::oid, %(priv)s)
            ELSE has_table_privilege(%(role)s, %(oid)s::oid, %(priv)s) END
"""

#: Privileges granted to PUBLIC (grantee 0) — has_table_privilege cannot name PUBLIC.
_PUBLIC = """
SELECT DISTINCT a.privilege_type FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = %(oid)s::oid AND a.grantee = 0
"""


@dataclass(frozen=True)
class Difference:
    relation: str
    role: str
    privilege: str
    held: bool  # True: held but not declared; False: declared but missing

    def __str__(self) -> str:
        if self.held:
            return f"{self.role} holds {self.privilege} on {self.relation} (not declared)"
        return f"{self.role} lacks {self.privilege} on {self.relation} (declared)"


def expected(database: str, schema: str, relation: str, kind: str) -> dict[str, frozenset] | None:
    """Declared privileges of every role on one relation; None when its schema is not declared."""
    exception = EXCEPTIONS.get(database, {}).get(f"{schema}.{relation}")
    if exception is not None:
        return {role: exception.get(role, NONE) for role in ROLES}
    schema_rules = SCHEMA_DEFAULTS.get(database, {}).get(schema)
    if schema_rules is None:
        return None
    rules = schema_rules.get(kind, {})
    return {role: rules.get(role, NONE) for role in ROLES}


def actual(cur, oid: int) -> dict[str, frozenset]:
    """Effective privileges of every role in :data:`ROLES` on one relation."""
    held: dict[str, frozenset] = {}
    for role in ROLES:
        if role == "PUBLIC":
            cur.execute(_PUBLIC, {"oid": oid})
            held[role] = frozenset(r[0] for r in cur.fetchall())
            continue
        privs = set()
        for priv in PRIVILEGES:
            cur.execute(_HAS, {"role": role, "oid": oid, "priv": priv})
            if cur.fetchone()[0]:
                privs.add(priv)
        held[role] = frozenset(privs)
    return held


def audit(conn, database: str) -> tuple[list[str], list[Difference], list[str]]:
    """(relations checked, differences, relations in undeclared schemas) for one database."""
    differences: list[Difference] = []
    undeclared: list[str] = []
    checked: list[str] = []
    with conn.cursor() as cur:
        cur.execute(_RELATIONS)
        relations = cur.fetchall()
        for schema, name, oid, kind in relations:
            qualified = f"{schema}.{name}"
            want = expected(database, schema, name, kind)
            if want is None:
                undeclared.append(qualified)
                continue
            checked.append(qualified)
            have = actual(cur, oid)
            for role in ROLES:
                for priv in sorted(have[role] - want[role]):
                    differences.append(Difference(qualified, role, priv, True))
                for priv in sorted(want[role] - have[role]):
                    differences.append(Difference(qualified, role, priv, False))
    return checked, differences, undeclared
