"""What the daily fleet report shows, read from the warehouse for one Africa/Nairobi local day.

Everything comes from ``tracksolid_dwh``: the vehicle roll-up from ``gold.fact_daily_fleet_metrics`` (every
active device of ``bronze.devices``, zeros when it has no facts), tracks from ``silver.fixes``, alarms from
``bronze.alarms``, silent devices from the last fix / heartbeat before the day's end, and depot / city-zone
outlines from ``bronze.geofences``. The queries are the ``include/sql/report/*.sql`` files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pendulum

from fleet_db.settings import read_sql

#: Where the report's local day starts and ends (Kenya and Uganda are both UTC+3, no DST).
LOCAL_TZ = "Africa/Nairobi"


@dataclass
class Track:
    """One vehicle's cleaned fixes of the day, in time order."""

    imei: str
    lats: list[float] = field(default_factory=list)
    lngs: list[float] = field(default_factory=list)
    states: list[str] = field(default_factory=list)


@dataclass
class ReportData:
    """The rows of one report day; :meth:`for_city` narrows them to one city page."""

    day: date
    day_start: datetime
    day_end: datetime
    vehicles: list[dict]
    alarms: list[dict]
    silent: list[dict]
    tracks: dict[str, Track]
    geofences: list[dict]
    city: str | None = None

    @property
    def cities(self) -> list[str]:
        return sorted({v["city"] for v in self.vehicles})

    @property
    def not_moved(self) -> list[dict]:
        """Vehicles with no driving time on the day (including those that never reported)."""
        return [v for v in self.vehicles if v["driving_h"] <= 0]

    def for_city(self, city: str) -> ReportData:
        imeis = {v["imei"] for v in self.vehicles if v["city"] == city}
        return ReportData(
            day=self.day, day_start=self.day_start, day_end=self.day_end,
            vehicles=[v for v in self.vehicles if v["city"] == city],
            alarms=[a for a in self.alarms if a["city"] == city],
            silent=[s for s in self.silent if s["city"] == city],
            tracks={i: t for i, t in self.tracks.items() if i in imeis},
            geofences=[g for g in self.geofences if g["city"] in (city, None)],
            city=city,
        )

    def totals(self) -> dict:
        """The page's headline figures."""
        n = len(self.vehicles)
        return {
            "vehicles": n,
            "km": sum(v["km"] for v in self.vehicles),
            "driving_h": sum(v["driving_h"] for v in self.vehicles),
            "idle_h": sum(v["idle_h"] for v in self.vehicles),
            "utilisation_pct": (sum(v["utilisation_pct"] for v in self.vehicles) / n) if n else 0.0,
            "idle_cost": sum(v["idle_cost"] for v in self.vehicles),
            "not_moved": len(self.not_moved),
            "alarms": sum(a["alarms"] for a in self.alarms),
            "silent": len(self.silent),
        }


def _rows(cur, query: str, params: dict) -> list[dict]:
    cur.execute(query, params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def day_bounds(cur, day: date) -> tuple[datetime, datetime]:
    cur.execute("SELECT day_start, day_end FROM silver.local_day_bounds(%s)", (day,))
    return cur.fetchone()


def load_report_data(conn, day: date) -> ReportData:
    """Read one local day's report rows from the warehouse (a psycopg2 connection)."""
    with conn.cursor() as cur:
        day_start, day_end = day_bounds(cur, day)
        params = {"day": day, "day_start": day_start, "day_end": day_end}
        vehicles = _rows(cur, read_sql("report", "report_vehicles.sql"), params)
        alarms = _rows(cur, read_sql("report", "report_alarms.sql"), params)
        silent = _rows(cur, read_sql("report", "report_silent_devices.sql"), params)
        geofences = _rows(cur, read_sql("report", "report_geofences.sql"), params)
        cur.execute(read_sql("report", "report_tracks.sql"), params)
        tracks: dict[str, Track] = {}
        for imei, _t, lat, lng, state in cur:
            track = tracks.get(imei)
            if track is None:
                track = tracks[imei] = Track(imei)
            track.lats.append(float(lat))
            track.lngs.append(float(lng))
            track.states.append(state)
    for g in geofences:
        g["geometry"] = json.loads(g.pop("geojson"))
    return ReportData(day=day, day_start=day_start, day_end=day_end, vehicles=vehicles, alarms=alarms,
                      silent=silent, tracks=tracks, geofences=geofences)


def report_day(param_day: str | None, asset_extras: list[dict], now: datetime | None = None) -> date:
    """The local day a run reports on: the ``day`` param of a manual run, else the newest day named by the
    triggering gold events (``extra["day"]`` or ``extra["days"]``), else yesterday in Africa/Nairobi."""
    if param_day:
        return date.fromisoformat(str(param_day)[:10])
    named = []
    for extra in asset_extras:
        values = extra.get("days") or ([extra["day"]] if extra.get("day") else [])
        named += [date.fromisoformat(str(v)[:10]) for v in values]
    if named:
        return max(named)
    local_now = pendulum.instance(now) if now else pendulum.now("UTC")
    return local_now.in_timezone(LOCAL_TZ).date() - timedelta(days=1)
