"""Driver / vehicle CSV import (SPEC §9): validate every row, report the bad ones, upsert the good ones.

CSV (UTF-8, optional BOM, header required): ``imei`` (required) and any of ``plate``, ``vehicle_name``,
``vehicle_model``, ``driver_name``, ``driver_phone``, ``city``. An empty cell leaves that field as it is.
Rules: IMEI = 15 digits with a valid Luhn check digit; plate = 2–12 letters, digits, spaces or dashes
(stored upper-case, single spaces); phone = optional ``+`` and 9–15 digits after removing spaces, dashes and
brackets; city = one of the cities of ``tracksolid.geofences`` city zones; an IMEI may appear once per file.
A bad row is reported with its line number (the header is line 1) and reason, and never written.

``dry_run`` (the default) computes and logs what would change — new devices and, per device, each field's
old → new value — and writes nothing. ``apply`` upserts the valid rows into ``tracksolid.devices`` in one
transaction (IMEIs the API has not listed yet are inserted with ``is_registered = false``).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field

from fleet_db.loaders import transaction

log = logging.getLogger(__name__)

#: CSV column -> tracksolid.devices column.
COLUMNS = {
    "plate": "license_plate_no",
    "vehicle_name": "vehicle_name",
    "vehicle_model": "vehicle_models",
    "driver_name": "driver_name",
    "driver_phone": "driver_phone",
    "city": "assigned_city",
}
PLATE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{0,10}[A-Z0-9]$")
PHONE = re.compile(r"^\+?\d{9,15}$")
MAX_TEXT = 200


class ImportFileError(ValueError):
    """The file as a whole cannot be read (no header, no imei column, unknown columns)."""


@dataclass
class BadRow:
    line: int
    imei: str
    reason: str


@dataclass
class ImportPlan:
    valid: dict[str, dict] = field(default_factory=dict)  # imei -> {devices column: value}
    lines: dict[str, int] = field(default_factory=dict)
    bad: list[BadRow] = field(default_factory=list)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def parse(text: str, known_cities: set[str]) -> ImportPlan:
    """Validate the CSV text; every row ends up either in ``valid`` or in ``bad``."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportFileError("the file is empty (a header line is required)") from None
    unknown = [h for h in header if h not in COLUMNS and h != "imei"]
    if "imei" not in header or unknown or len(set(header)) != len(header):
        raise ImportFileError(f"header must name 'imei' and any of {sorted(COLUMNS)} once each; got {header}")
    cities = {c.lower(): c for c in known_cities}
    plan = ImportPlan()
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank line
        imei = row[header.index("imei")].strip() if len(row) > header.index("imei") else ""
        if len(row) != len(header):
            plan.bad.append(BadRow(line, imei, f"{len(row)} fields, the header has {len(header)}"))
            continue
        values, reason = _row(dict(zip(header, (c.strip() for c in row), strict=True)), cities)
        if reason is None and imei in plan.valid:
            reason = f"duplicate IMEI (first on line {plan.lines[imei]})"
        if reason is not None:
            plan.bad.append(BadRow(line, imei, reason))
            continue
        plan.valid[imei] = values
        plan.lines[imei] = line
    return plan


def _row(cells: dict[str, str], cities: dict[str, str]) -> tuple[dict, str | None]:
    imei = cells["imei"]
    if not imei:
        return {}, "imei is empty"
    if not (imei.isdigit() and len(imei) == 15):
        return {}, f"imei {imei!r} is not 15 digits"
    if not luhn_ok(imei):
        return {}, f"imei {imei} fails the Luhn check digit"
    values: dict[str, str] = {}
    for name, column in COLUMNS.items():
        raw = cells.get(name, "")
        if not raw:
            continue
        if len(raw) > MAX_TEXT:
            return {}, f"{name} longer than {MAX_TEXT} characters"
        if name == "plate":
            raw = " ".join(raw.upper().split())
            if not PLATE.match(raw):
                return {}, f"plate {raw!r} is not 2-12 letters, digits, spaces or dashes"
        elif name == "driver_phone":
            raw = re.sub(r"[\s\-()]", "", raw)
            if not PHONE.match(raw):
                return {}, f"driver_phone {cells[name]!r} is not a phone number (+ and 9-15 digits)"
        elif name == "city":
            if raw.lower() not in cities:
                return {}, f"city {raw!r} is not one of {sorted(cities.values())}"
            raw = cities[raw.lower()]
        values[column] = raw
    return values, None


def known_cities(cur) -> set[str]:
    cur.execute("SELECT DISTINCT city FROM tracksolid.geofences WHERE kind = 'city_zone' AND city IS NOT NULL")
    return {r[0] for r in cur.fetchall()}


def diff(cur, plan: ImportPlan) -> list[dict]:
    """What applying ``plan`` would change: one entry per new or changed device."""
    changes = []
    if not plan.valid:
        return changes
    columns = list(COLUMNS.values())
    cur.execute(f"SELECT imei, {', '.join(columns)} FROM tracksolid.devices WHERE imei = ANY(%s)",
                (list(plan.valid),))
    current = {r[0]: dict(zip(columns, r[1:], strict=True)) for r in cur.fetchall()}
    for imei, values in plan.valid.items():
        if imei not in current:
            changes.append({"imei": imei, "line": plan.lines[imei], "action": "insert", "fields": values})
            continue
        changed = {c: [current[imei][c], v] for c, v in values.items() if current[imei][c] != v}
        if changed:
            changes.append({"imei": imei, "line": plan.lines[imei], "action": "update", "fields": changed})
    return changes


def run(conn, text: str, *, dry_run: bool = True) -> dict:
    """Validate, diff and (unless ``dry_run``) upsert. Returns the report (also logged)."""
    with transaction(conn) as cur:
        plan = parse(text, known_cities(cur))
        changes = diff(cur, plan)
        if not dry_run:
            for change in changes:
                values = plan.valid[change["imei"]]
                cols = list(values)
                cur.execute(
                    f"INSERT INTO tracksolid.devices (imei, is_registered, {', '.join(cols)})"
                    f" VALUES (%s, false, {', '.join(['%s'] * len(cols))})"
                    f" ON CONFLICT (imei) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in cols)}",
                    [change["imei"], *values.values()])
    report = {
        "dry_run": dry_run, "valid_rows": len(plan.valid), "bad_rows": len(plan.bad),
        "inserted" if not dry_run else "would_insert": sum(c["action"] == "insert" for c in changes),
        "updated" if not dry_run else "would_update": sum(c["action"] == "update" for c in changes),
        "unchanged": len(plan.valid) - len(changes),
        "changes": changes,
        "bad": [{"line": b.line, "imei": b.imei, "reason": b.reason} for b in plan.bad],
    }
    verb = "would change" if dry_run else "changed"
    for c in changes:
        log.info("line %s %s %s (%s): %s", c["line"], verb, c["imei"], c["action"], c["fields"])
    for b in plan.bad:
        log.warning("line %s rejected (imei %r): %s", b.line, b.imei, b.reason)
    log.info("driver import%s: %s valid, %s bad, %s %s, %s unchanged", " (dry run)" if dry_run else "",
             len(plan.valid), len(plan.bad), len(changes), verb, report["unchanged"])
    return report


def read_source(path: str | None = None, key: str | None = None, store=None) -> str:
    """The CSV text from a local ``path`` or an object ``key`` (exactly one)."""
    if bool(path) == bool(key):
        raise ValueError("give exactly one of 'path' (a file on the worker) or 'key' (an object in the bucket)")
    if path:
        with open(path, encoding="utf-8-sig") as fh:
            return fh.read()
    if not store.exists(key):
        raise FileNotFoundError(f"s3://{store.bucket}/{key} does not exist")
    return store.hook.read_key(key, bucket_name=store.bucket)
