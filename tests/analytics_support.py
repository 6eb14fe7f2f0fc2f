"""Helpers of the analytics-view tests: plant rows in the live database and read views as ``grafana_ro``.

Everything planted is timed relative to the database's ``now()`` (read once as ``t0``), so the expected
values are computed from what the test planted, with the same local-day rule as the views (Africa/Nairobi).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

NAIROBI = ZoneInfo("Africa/Nairobi")


def db_now(conn) -> datetime:
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        return cur.fetchone()[0].astimezone(UTC)


def local_midnight(t: datetime) -> datetime:
    """Start of the Africa/Nairobi day containing t, as aware UTC."""
    local = t.astimezone(NAIROBI)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def local_day(t: datetime):
    return t.astimezone(NAIROBI).date()


def rows_as(conn, query: str, params=None, role: str | None = "grafana_ro") -> list[dict]:
    """Run a query (as ``role`` unless None) and return dict rows; the role is reset afterwards."""
    with conn.cursor() as cur:
        if role:
            cur.execute(f"SET ROLE {role}")
        try:
            cur.execute(query, params)
            names = [c.name for c in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            if role:
                cur.execute("RESET ROLE")


def add_device(conn, imei: str, name: str | None, *, plate: str | None = None, driver: str | None = None,
               city: str = "Nairobi", active: bool = True) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO tracksolid.devices (imei, account, device_name, license_plate_no, driver_name,"
            " assigned_city, is_active) VALUES (%s, 'acct1', %s, %s, %s, %s, %s)",
            (imei, name, plate, driver, city, active))


def add_fixes(conn, imei: str, fixes: Iterable[tuple[datetime, float, float, float, bool | None]],
              *, live: bool = True) -> list[tuple]:
    """Insert (gps_time, lat, lng, speed_kmh, acc_status) fixes; the newest also becomes the live position."""
    fixes = sorted(fixes)
    with conn.cursor() as cur:
        for t, lat, lng, speed, acc in fixes:
            cur.execute(
                "INSERT INTO tracksolid.position_history (imei, gps_time, lat, lng, geom, speed_kmh, acc_status,"
                " gps_mode, source) VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, 0,"
                " 'push')", (imei, t, lat, lng, lng, lat, speed, acc))
        if live and fixes:
            t, lat, lng, speed, acc = fixes[-1]
            cur.execute(
                "INSERT INTO tracksolid.live_positions (imei, gps_time, lat, lng, geom, speed_kmh, acc_status,"
                " source) VALUES (%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, 'push')",
                (imei, t, lat, lng, lng, lat, speed, acc))
    return fixes


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def drive(start: datetime, end: datetime, step_s: int, lat: float, lng: float, *, dlat: float, dlng: float,
          speed: float = 40.0) -> list[tuple]:
    """Moving fixes every step_s seconds in [start, end), moving by (dlat, dlng) per fix."""
    out, t = [], start
    while t < end:
        out.append((t, lat, lng, speed, True))
        lat, lng, t = lat + dlat, lng + dlng, t + timedelta(seconds=step_s)
    return out


def still(start: datetime, end: datetime, step_s: int, lat: float, lng: float, *, speed: float,
          acc: bool | None) -> list[tuple]:
    out, t = [], start
    while t < end:
        out.append((t, lat, lng, speed, acc))
        t += timedelta(seconds=step_s)
    return out


def percentile_cont(values: list[float], q: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
