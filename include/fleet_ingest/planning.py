"""Account targets → each target's active IMEIs (from ``tracksolid.devices``) → batches of ≤ batch_size.

The batches are what the endpoint DAGs map over (one task instance per target × batch), so they are
small dicts: the target, the batch number and the IMEIs (≤ 50 short strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fleet_db.settings import read_sql
from tracksolid_hook.batching import chunk, unique_imeis


class PlanningError(ValueError):
    """Targets or IMEIs asked for do not exist."""


#: Server messages of a database login that no retry can fix (libpq / PostgreSQL wording).
_DB_SETTING_ERRORS = ("password authentication failed", "role \"", "database \"", "no pg_hba.conf entry",
                      "Ident authentication failed", "could not translate host name")


def database_setting_error(exc: BaseException) -> str | None:
    """The reason when ``exc`` is a database connection refused for its settings (wrong password, role or
    database name, unknown host) rather than an outage; None otherwise. Never returns a password."""
    text = str(exc)
    if not any(marker in text for marker in _DB_SETTING_ERRORS):
        return None
    if "does not exist" not in text and "failed" not in text and "no pg_hba" not in text \
            and "could not translate" not in text:
        return None
    line = next((part.strip() for part in text.splitlines() if any(m in part for m in _DB_SETTING_ERRORS)), text)
    return line.split("FATAL:", 1)[-1].strip()[:300]


def resolve_targets(configured: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The configured targets, or the requested subset of them (an unknown target is an error)."""
    configured = list(dict.fromkeys(configured))
    if not requested:
        return configured
    unknown = [t for t in requested if t not in configured]
    if unknown:
        raise PlanningError(f"target(s) {', '.join(unknown)} are not in the connection's targets "
                            f"({', '.join(configured)})")
    return list(dict.fromkeys(requested))


def batch_label(target: str, batch_no: int, imeis: Sequence[str]) -> str:
    """Readable name of a mapped instance, e.g. ``acct-a #2 (50 IMEIs 8600…01..8600…50)``."""
    span = imeis[0] if len(imeis) == 1 else f"{imeis[0]}..{imeis[-1]}" if imeis else "none"
    return f"{target} #{batch_no} ({len(imeis)} IMEI{'s' if len(imeis) != 1 else ''} {span})"


def make_batches(imeis_by_target: dict[str, Sequence[str]], batch_size: int) -> list[dict]:
    """``{target: imeis}`` → ``[{"target", "batch_no", "imeis", "label"}]``, ≤ ``batch_size`` IMEIs each."""
    if batch_size < 1:
        raise PlanningError(f"batch_size must be >= 1, got {batch_size}")
    batches = []
    for target, imeis in imeis_by_target.items():
        for number, imeis_chunk in enumerate(chunk(unique_imeis(imeis), batch_size), start=1):
            batches.append({"target": target, "batch_no": number, "imeis": imeis_chunk,
                            "label": batch_label(target, number, imeis_chunk)})
    return batches


def active_imeis(conn, targets: Sequence[str], imeis: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Active, registered IMEIs of each target (every target is a key, possibly with no IMEI)."""
    subset = unique_imeis(imeis) if imeis else None
    with conn.cursor() as cur:
        cur.execute(read_sql("ingest", "select_active_imeis.sql"), {"targets": list(targets), "imeis": subset})
        rows = cur.fetchall()
    found: dict[str, list[str]] = {t: [] for t in targets}
    for account, imei in rows:
        found[account].append(imei)
    return found


def plan_batches(conn, targets: Sequence[str], batch_size: int, imeis: Iterable[str] | None = None) -> list[dict]:
    """The mapped work of an IMEI-batched endpoint run."""
    return make_batches(active_imeis(conn, targets, imeis), batch_size)
