"""Ground truth: what every device really did, and exactly what each API method returns for a window.

Rows are keyed by the column names of ``include/sql/migrations/tracksolid_db/0002_live_tables.sql``; every
datetime is aware UTC; numeric columns are ``Decimal`` (equal to what the API's strings parse to), double
precision columns ``float`` (the API sends them rounded to 6 decimals), integer columns ``int``.

Window semantics (shared by the API handlers, which call these very methods):

* ``fixes``: ``start <= gps_time < end``; ``arrived_by`` (optional) keeps only fixes that had reached the
  platform by then — track.list passes the server's "now", so late (``gps_mode`` = 1) fixes appear only
  after their ``arrived_at``.
* ``trips`` (track.mileage): a trip belongs to the window when its ``start_time`` is in ``[start, end)``.
* ``parking`` (report.parking): an event belongs when its ``start_time`` is in ``[start, end)``; parking
  (acc off) spans midnight and rest days as ONE event; only spells of at least ``parking_report_min_s``.
* ``alarms`` (alarm.list): ``start <= alarm_time < end``.  ``obd`` (obd.list): ``start <= reading_time < end``.
* ``completed_by`` (trips, parking): only rows whose ``end_time <= completed_by`` — the API passes its "now",
  so a trip or stop still in progress is not reported yet.
* The platform only knows what devices sent: trips, parking, alarms and OBD readings that overlap a period in
  which the device was silent are absent from the API and from these methods. ``stops`` / ``idle_spells``
  are the physical truth (silence ignored) for the warehouse's derived segments.

Push-only streams (IoT-Hub paths of TRACKSOLID_API.md §7; nothing is sent while a device is silent), rows
keyed like the receiver's tables (0002 and 0030_push_receiver_tables.sql):

* ``trip_reports`` (/pushtripreport → push_trip_reports): one per trip, pushed when it ends, so a report
  belongs to the window when its ``end_time`` is in ``[start, end)``; trips overlapping silence are absent.
* ``fuel_readings`` (/pushoil), ``temperature_readings`` (/pushtem), ``lbs_readings`` (/pushlbs),
  ``fault_codes`` (/pushfaultinfo), ``attribute_reports`` (/pushalarm ``type`` ICCID / VIN →
  device_attribute_reports): by their own time in ``[start, end)``.
* ``push_rows`` — every table the receiver fills from the IoT-Hub push of a window, with what it should
  hold (columns a push item does not carry are ``None``).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

from tracksolid_simulator.fleet import (
    ALARM_NAMES,
    DAY_S,
    FAULT_CODES,
    FUEL_INTERVAL_S,
    HEARTBEAT_INTERVAL_S,
    LBS_INTERVAL_S,
    OBD_INTERVAL_S,
    TEMPERATURE_INTERVAL_S,
    DayPlan,
    Device,
    Segment,
    local_date_of,
    ts_dt,
    utc_ts,
)
from tracksolid_simulator.geo import CITIES, mix, unit

LOOKBACK_DAYS = 16  # latest_fix gives up after this much silence

#: Tables the push receiver fills from each IoT-Hub path (see ``Truth.push_rows``).
PUSH_TABLES = {
    "/pushgps": ("position_history",),
    "/pushhb": ("heartbeats",),
    "/pushalarm": ("alarms", "device_attribute_reports"),
    "/pushevent": ("device_events",),
    "/pushobd": ("obd_readings",),
    "/pushfaultinfo": ("fault_codes",),
    "/pushtripreport": ("push_trip_reports",),
    "/pushoil": ("fuel_readings",),
    "/pushtem": ("temperature_readings",),
    "/pushlbs": ("lbs_readings",),
}


def _dec1(x: float) -> Decimal:
    return Decimal(f"{x:.1f}")


class Truth:
    """Ground-truth queries over a :class:`~tracksolid_simulator.fleet.Fleet`."""

    def __init__(self, fleet) -> None:
        self.fleet = fleet

    # ------------------------------------------------------------------------------------ helpers ----
    def _devices(self, imeis) -> list[Device]:
        if imeis is None:
            return self.fleet.devices
        if isinstance(imeis, str):
            imeis = [i for i in imeis.split(",") if i]
        return [self.fleet.by_imei[i] for i in imeis if i in self.fleet.by_imei]

    @staticmethod
    def _days(a: int, b: int):
        if b <= a:
            return
        d, last = local_date_of(a), local_date_of(b - 1)
        while d <= last:
            yield d
            d += timedelta(days=1)

    @staticmethod
    def _window(start: datetime, end: datetime) -> tuple[int, int]:
        return utc_ts(start), utc_ts(end)

    def _drive_speed(self, dev: Device, seg: Segment, t: int) -> float:
        for a, b in seg.stops:
            if a <= t < b:
                return 0.0
        for a, b, v in seg.bursts:
            if a <= t < b:
                return round(v + 2 * unit(dev.imei_int, t, 4), 1)
        return round(max(5.0, seg.cruise * (0.88 + 0.24 * unit(dev.imei_int, t, 3))), 1)

    def _speed(self, dev: Device, seg: Segment, t: int) -> float:
        if seg.kind == "drive":
            return self._drive_speed(dev, seg, t)
        if seg.kind == "idle":  # GPS drift while standing with the engine on
            return round(2.0 * unit(dev.imei_int, t, 5), 1)
        return 0.0

    def _fix_row(self, dev: Device, plan: DayPlan, seg: Segment, t: int) -> dict:
        lat, lng, heading = seg.position_at(t)
        gps_mode, arrived = plan.arrival(t)
        odo_m = seg.odo_start_m + seg.distance_at(t)
        return {
            "imei": dev.imei,
            "gps_time": ts_dt(t),
            "lat": round(lat, 6),
            "lng": round(lng, 6),
            "speed_kmh": _dec1(self._speed(dev, seg, t)),
            "direction": int(round(heading)) % 360,
            "acc_status": seg.kind != "park",
            "gps_mode": gps_mode,
            "satellite": 6 + mix(dev.imei_int, t, 6) % 9,
            "pos_type": "GPS",
            "arrived_at": ts_dt(arrived),
            "odometer_km": _dec1(odo_m / 1000.0),
            "altitude": Decimal(dev.altitude_m + mix(dev.imei_int, t, 7) % 15),
        }

    # -------------------------------------------------------------------------------------- devices --
    def devices(self, at: datetime | None = None) -> list[dict]:
        """Every device with the fields device.list + device.detail return (``assigned_city`` is ours:
        the API does not send it). ``current_mileage_km`` is the odometer at ``at`` (None without ``at``)."""
        rows = []
        for dev in self.fleet.devices:
            row = dict(dev.info)
            row["current_mileage_km"] = self.odometer_km(dev.imei, at) if at is not None else None
            rows.append(row)
        return rows

    def odometer_km(self, imei: str, at: datetime) -> Decimal:
        t = utc_ts(at)
        plan = self.fleet.plan(imei, local_date_of(t))
        seg = plan.segment_at(t)
        return _dec1((seg.odo_start_m + seg.distance_at(t)) / 1000.0)

    # ---------------------------------------------------------------------------------------- fixes --
    def fixes(self, start: datetime, end: datetime, imeis=None, arrived_by: datetime | None = None) -> list[dict]:
        """Every fix with ``start <= gps_time < end`` (ordered by imei, gps_time); ``arrived_by`` keeps
        only fixes with ``arrived_at <= arrived_by``."""
        a, b = self._window(start, end)
        limit = utc_ts(arrived_by) if arrived_by is not None else None
        out = []
        for dev in self._devices(imeis):
            for day in self._days(a, b):
                plan = self.fleet.plan(dev.imei, day)
                for seg in plan.segments:
                    if seg.end <= a or seg.start >= b:
                        continue
                    for t in seg.grid(a, b):
                        if plan.silent and plan.is_silent(t):
                            continue
                        if limit is not None and plan.arrival(t)[1] > limit:
                            continue
                        out.append(self._fix_row(dev, plan, seg, t))
        return out

    def latest_fix(self, imei: str, at: datetime) -> dict | None:
        """What location.list says for the device at time ``at``: the newest fix (by gps_time) that had
        arrived by ``at``, plus the status fields (hb_time, online, battery …). None if silent for long."""
        dev = self.fleet.by_imei[imei]
        at_ts = utc_ts(at)
        t = at_ts
        floor_ts = at_ts - LOOKBACK_DAYS * DAY_S
        while t >= floor_ts:
            plan = self.fleet.plan(imei, local_date_of(t))
            seg = plan.segment_at(t)
            cand = seg.start + ((t - seg.start) // seg.interval) * seg.interval
            window = next(((sa, sb) for sa, sb in plan.silent if sa <= cand < sb), None)
            if window is not None:
                t = window[0] - 1
                continue
            buf = next(((ba, bb, r) for ba, bb, r in plan.buffers if ba <= cand < bb), None)
            if buf is not None and buf[2] > at_ts:
                t = buf[0] - 1
                continue
            row = self._fix_row(dev, plan, seg, cand)
            hb = self.latest_heartbeat(imei, at)
            row.update(self._status_fields(dev, cand, hb, at_ts))
            return row
        return None

    def _status_fields(self, dev: Device, t: int, hb: datetime | None, at_ts: int) -> dict:
        h = dev.imei_int
        return {
            "hb_time": hb,
            "online": hb is not None and at_ts - utc_ts(hb) <= 2 * HEARTBEAT_INTERVAL_S,
            "gps_num": 6 + mix(h, t, 6) % 9,
            "gps_signal": 2 + mix(h, t, 8) % 3,
            "elect_quantity": Decimal(60 + mix(h, t, 9) % 41),
            "power_value": Decimal(f"{12.2 + (mix(h, t, 10) % 20) / 10:.1f}"),
            "battery_power_val": Decimal(f"{3.9 + (mix(h, t, 11) % 3) / 10:.1f}"),
            "current_mileage_km": None,  # filled by the API from the odometer
            "temperature": None,
            "tracker_oil": None,
            "loc_desc": None,
        }

    def latest_heartbeat(self, imei: str, at: datetime) -> datetime | None:
        at_ts = utc_ts(at)
        t = at_ts
        while t >= at_ts - LOOKBACK_DAYS * DAY_S:
            plan = self.fleet.plan(imei, local_date_of(t))
            cand = plan.start + ((t - plan.start) // HEARTBEAT_INTERVAL_S) * HEARTBEAT_INTERVAL_S
            window = next(((sa, sb) for sa, sb in plan.silent if sa <= cand < sb), None)
            if window is None:
                return ts_dt(cand)
            t = window[0] - 1
        return None

    def heartbeats(self, start: datetime, end: datetime, imeis=None) -> list[dict]:
        """Heartbeats (push ``/pushhb``) with ``start <= hb_time < end``: every 10 min unless silent."""
        a, b = self._window(start, end)
        out = []
        for dev in self._devices(imeis):
            for day in self._days(a, b):
                plan = self.fleet.plan(dev.imei, day)
                first = plan.start + -(-(max(a, plan.start) - plan.start) // HEARTBEAT_INTERVAL_S) \
                    * HEARTBEAT_INTERVAL_S
                for t in range(first, min(b, plan.end), HEARTBEAT_INTERVAL_S):
                    if plan.is_silent(t):
                        continue
                    seg = plan.segment_at(t)
                    out.append({
                        "imei": dev.imei, "hb_time": ts_dt(t),
                        "power_level": 60 + mix(dev.imei_int, t, 12) % 41,
                        "gsm_signal": 2 + mix(dev.imei_int, t, 8) % 3,
                        "acc_status": seg.kind != "park", "oil_ele": None, "gps_pos": "1",
                    })
        return out

    def events(self, start: datetime, end: datetime, imeis=None) -> list[dict]:
        """Device events (push ``/pushevent``): LOGOUT when a device falls silent, LOGIN when it returns."""
        a, b = self._window(start, end)
        out = []
        for dev in self._devices(imeis):
            # from the day before: a silence ending at local midnight logs in on the next day
            for day in self._days(a - DAY_S, b):
                for t, kind in self._silence_edges(dev, day):
                    if a <= t < b:
                        out.append({"imei": dev.imei, "event_time": ts_dt(t), "event_type": kind})
        return out

    def _silence_edges(self, dev: Device, day: date) -> list[tuple[int, str]]:
        fleet = self.fleet
        edges = []
        for sa, sb in fleet.silent_windows(dev, day):
            prev = fleet.silent_windows(dev, day - timedelta(days=1))
            nxt = fleet.silent_windows(dev, day + timedelta(days=1))
            if not any(pb == sa for _, pb in prev):
                edges.append((sa, "LOGOUT"))
            if not any(na == sb for na, _ in nxt):
                edges.append((sb, "LOGIN"))
        return edges

    # ---------------------------------------------------------------------------------------- trips --
    def trips(self, start: datetime, end: datetime, imeis=None, completed_by: datetime | None = None) -> list[dict]:
        """What track.mileage returns: trips with ``start <= start_time < end`` (and ``end_time <=
        completed_by`` if given), except trips overlapping a silent period. ``distance_km`` = API metres
        / 1000; ``run_time_s`` = ``runTimeSecond``."""
        a, b = self._window(start, end)
        done = utc_ts(completed_by) if completed_by is not None else None
        out = []
        for dev in self._devices(imeis):
            for day in self._days(a, b):
                plan = self.fleet.plan(dev.imei, day)
                for seg in plan.segments:
                    if seg.kind != "drive" or not (a <= seg.start < b):
                        continue
                    if done is not None and seg.end > done:
                        continue
                    if plan.overlaps_silence(seg.start, seg.end):
                        continue
                    out.append(self._trip_row(dev, seg))
        return out

    @staticmethod
    def trip_metres(seg: Segment) -> int:
        return int(round(seg.length_m))

    def _trip_row(self, dev: Device, seg: Segment) -> dict:
        metres = self.trip_metres(seg)
        run = seg.end - seg.start
        (la, lo), (lb, lob) = seg.path[0], seg.path[-1]
        return {
            "imei": dev.imei,
            "start_time": ts_dt(seg.start),
            "end_time": ts_dt(seg.end),
            "start_lat": round(la, 6), "start_lng": round(lo, 6),
            "end_lat": round(lb, 6), "end_lng": round(lob, 6),
            "distance_km": Decimal(metres) / Decimal(1000),
            "avg_speed_kmh": _dec1(metres / 1000 / (run / 3600)) if run else Decimal(0),
            "run_time_s": run,
        }

    # -------------------------------------------------------------------------------------- parking --
    def _park_spells(self, dev: Device, day: date):
        """Parked spells that START on ``day`` (a spell continues across midnight and rest days):
        yields (start, end, place, overlaps_silence)."""
        plan = self.fleet.plan(dev.imei, day)
        for seg in plan.segments:
            if seg.kind != "park" or seg.start == plan.start:
                continue  # a park beginning at midnight continues yesterday's
            end, silent = seg.end, plan.overlaps_silence(seg.start, seg.end)
            d = day
            while end == self.fleet.plan(dev.imei, d).end and (d - day).days < LOOKBACK_DAYS:
                d = d + timedelta(days=1)
                nxt = self.fleet.plan(dev.imei, d)
                first = nxt.segments[0]
                end = first.end
                silent = silent or nxt.overlaps_silence(first.start, first.end)
            yield seg.start, end, seg.place, silent

    def _idle_spells(self, dev: Device, day: date):
        plan = self.fleet.plan(dev.imei, day)
        for seg in plan.segments:
            if seg.kind == "idle":
                yield seg.start, seg.end, seg.place, plan.overlaps_silence(seg.start, seg.end)

    def parking(self, start: datetime, end: datetime, acc_type: str = "off", imeis=None,
                completed_by: datetime | None = None) -> list[dict]:
        """What report.parking returns for ``acc_type`` ``off`` (parking) or ``on`` (idling): spells
        with ``start <= start_time < end``, at least ``parking_report_min_s`` long, completed by
        ``completed_by`` if given, not overlapping silence."""
        if acc_type not in ("off", "on"):
            raise ValueError("acc_type must be 'off' or 'on'")
        a, b = self._window(start, end)
        done = utc_ts(completed_by) if completed_by is not None else None
        min_s = self.fleet.cfg.parking_report_min_s
        out = []
        for dev in self._devices(imeis):
            for day in self._days(a, b):
                spells = self._park_spells(dev, day) if acc_type == "off" else self._idle_spells(dev, day)
                for s, e, place, silent in spells:
                    if not (a <= s < b) or silent or e - s < min_s or (done is not None and e > done):
                        continue
                    out.append({
                        "imei": dev.imei, "start_time": ts_dt(s), "acc_type": acc_type,
                        "end_time": ts_dt(e), "duration_s": e - s, "stop_s": e - s,
                        "lat": place.lat, "lng": place.lng,
                        "address": f"{place.name}, {place.city}", "device_name": dev.device_name,
                    })
        return out

    def stops(self, start: datetime, end: datetime, imeis=None, min_s: int = 300) -> list[dict]:
        """Physical parked spells (ACC off) starting in ``[start, end)``, at least ``min_s`` long, whole
        across midnight; silence ignored."""
        return self._spells(start, end, imeis, min_s, "off")

    def idle_spells(self, start: datetime, end: datetime, imeis=None, min_s: int = 300) -> list[dict]:
        """Physical idle spells (ACC on, standing) starting in ``[start, end)``, at least ``min_s``."""
        return self._spells(start, end, imeis, min_s, "on")

    def _spells(self, start, end, imeis, min_s, kind) -> list[dict]:
        a, b = self._window(start, end)
        out = []
        for dev in self._devices(imeis):
            for day in self._days(a, b):
                spells = self._park_spells(dev, day) if kind == "off" else self._idle_spells(dev, day)
                for s, e, place, _silent in spells:
                    if a <= s < b and e - s >= min_s:
                        out.append({"imei": dev.imei, "started_at": ts_dt(s), "ended_at": ts_dt(e),
                                    "duration_s": e - s, "lat": place.lat, "lng": place.lng,
                                    "place": place.name})
        return out

    # --------------------------------------------------------------------------------------- alarms --
    def alarms(self, start: datetime, end: datetime, imeis=None) -> list[dict]:
        """What alarm.list returns: alarms with ``start <= alarm_time < end`` (ordered by time, imei,
        type), not raised while the device was silent. ``alarm_type`` = alertTypeId, ``alarm_name`` =
        alarmTypeName; ``geoid`` set for geofence in/out."""
        a, b = self._window(start, end)
        out = []
        for dev in self._devices(imeis):
            for day in self._days(a, b):
                plan = self.fleet.plan(dev.imei, day)
                for t, kind in plan.alarms:
                    if not (a <= t < b) or plan.is_silent(t):
                        continue
                    seg = plan.segment_at(t)
                    lat, lng, _ = seg.position_at(t)
                    out.append({
                        "imei": dev.imei, "alarm_type": kind, "alarm_time": ts_dt(t),
                        "alarm_name": ALARM_NAMES[kind], "device_name": dev.device_name,
                        "positioning_time": ts_dt(t), "lat": round(lat, 6), "lng": round(lng, 6),
                        "speed_kmh": _dec1(self._speed(dev, seg, t)),
                        "geoid": f"depot-{dev.city.lower()}" if kind in ("in", "out") else None,
                    })
        out.sort(key=lambda r: (r["alarm_time"], r["imei"], r["alarm_type"]))
        return out

    # ------------------------------------------------------------------------------------------ obd --
    def obd(self, start: datetime, end: datetime, imeis=None) -> list[dict]:
        """What obd.list returns: readings of OBD devices (model GT06E) every 5 min while ACC is on, with
        ``start <= reading_time < end``, not while silent. Ordered by imei, reading_time."""
        a, b = self._window(start, end)
        out = []
        for dev in self._devices(imeis):
            if not dev.has_obd:
                continue
            h = dev.imei_int
            for day in self._days(a, b):
                plan = self.fleet.plan(dev.imei, day)
                for seg in plan.segments:
                    if seg.kind == "park" or seg.end <= a or seg.start >= b:
                        continue
                    for t in seg.grid(a, b):
                        if (t - seg.start) % OBD_INTERVAL_S or plan.is_silent(t):
                            continue
                        odo_km = (seg.odo_start_m + seg.distance_at(t)) / 1000.0
                        speed = self._speed(dev, seg, t)
                        out.append({
                            "imei": dev.imei, "reading_time": ts_dt(t),
                            "odometer_km": _dec1(odo_km),
                            "fuel_l": None,
                            "fuel_pct": Decimal(int(95 - (odo_km * 0.5) % 75)),
                            "rpm": Decimal(int(780 + 60 * unit(h, t, 13)) if seg.kind == "idle"
                                           else int(1200 + speed * 25 + 200 * unit(h, t, 13))),
                            "coolant_temp_c": Decimal(88 + mix(h, t, 14) % 7),
                            "battery_v": _dec1(13.6 + 0.8 * unit(h, t, 15)),
                            "speed_kmh": _dec1(speed),
                            "vin": dev.info["vin"],
                        })
        return out

    # =================================================================== push-only streams (IoT-Hub) ==
    def _device_days(self, a: int, b: int, imeis, keep=None):
        """(device, plan) for every device (optionally filtered by ``keep``) and local day of [a, b)."""
        for dev in self._devices(imeis):
            if keep is not None and not keep(dev):
                continue
            for day in self._days(a, b):
                yield dev, self.fleet.plan(dev.imei, day)

    # ------------------------------------------------------------------------------- trip reports --
    def trip_reports(self, start: datetime, end: datetime, imeis=None) -> list[dict]:
        """Trip reports (push ``/pushtripreport`` → ``push_trip_reports``): every trip whose ``end_time`` is
        in ``[start, end)`` (the report is pushed when the trip ends), not overlapping silence. Keys: imei,
        start_time, end_time, start/end lat/lng, distance_km (= pushed metres / 1000), avg_speed_kmh,
        max_speed_kmh (fastest fix of the trip), run_time_s, fuel_l (distance × fuel_100km, 2 decimals).
        Ordered by imei, start_time."""
        a, b = self._window(start, end)
        out = []
        for dev, plan in self._device_days(a, b, imeis):
            for seg in plan.segments:
                if seg.kind != "drive" or not (a <= seg.end < b) or plan.overlaps_silence(seg.start, seg.end):
                    continue
                row = self._trip_row(dev, seg)
                row["max_speed_kmh"] = _dec1(max(self._speed(dev, seg, t) for t in seg.grid(seg.start, seg.end)))
                row["fuel_l"] = Decimal(f"{self.trip_metres(seg) / 1000 * float(dev.info['fuel_100km']) / 100:.2f}")
                out.append(row)
        return out

    # -------------------------------------------------------------------------------------- fuel ----
    def _fuel_level_l(self, dev: Device, seg: Segment, t: int) -> Decimal:
        """Tank level: drains with the odometer at the vehicle's consumption and is refilled whenever 70 %
        of the tank has been used (a sawtooth), plus ±0.3 L of sensor noise."""
        capacity = dev.fuel_tank_l
        litres_per_km = float(dev.info["fuel_100km"]) / 100
        used = ((seg.odo_start_m + seg.distance_at(t)) / 1000 * litres_per_km) % (0.7 * capacity)
        return _dec1(capacity - used + 0.6 * (unit(dev.imei_int, t, 44) - 0.5))

    def fuel_readings(self, start: datetime, end: datetime, imeis=None) -> list[dict]:
        """Fuel-sensor readings (push ``/pushoil`` → ``fuel_readings``) of devices with
        ``has_fuel_sensor``: every ``FUEL_INTERVAL_S`` (on the local-day grid) while ACC is on, hourly while
        parked, never while silent; ``start <= reading_time < end``. Keys: imei, reading_time, fuel_value
        (litres, 1 decimal), fuel_unit ("L"). Ordered by imei, reading_time."""
        a, b = self._window(start, end)
        out = []
        for dev, plan in self._device_days(a, b, imeis, keep=lambda d: d.has_fuel_sensor):
            for t in self._plan_grid(plan, a, b, FUEL_INTERVAL_S):
                seg = plan.segment_at(t)
                if (seg.kind == "park" and (t - plan.start) % 3600) or plan.is_silent(t):
                    continue
                out.append({"imei": dev.imei, "reading_time": ts_dt(t),
                            "fuel_value": self._fuel_level_l(dev, seg, t), "fuel_unit": "L"})
        return out

    @staticmethod
    def _plan_grid(plan: DayPlan, a: int, b: int, step: int) -> range:
        """Times ``plan.start + k * step`` within [a, b) and the plan's day."""
        lo = max(a, plan.start)
        first = plan.start + -(-(lo - plan.start) // step) * step
        return range(first, min(b, plan.end), step)

    # ------------------------------------------------------------------------------- temperature ----
    def temperature_readings(self, start: datetime, end: datetime, imeis=None) -> list[dict]:
        """Cold-box probe readings (push ``/pushtem`` → ``temperature_readings``) of devices with
        ``has_temperature_sensor``: every ``TEMPERATURE_INTERVAL_S`` unless silent, ``start <= reading_time
        < end``. The box holds 3–5 °C; unloading at a customer site (door open) warms it by up to 6 °C for
        20 minutes. Keys: imei, reading_time, temperature_c, humidity_pct (1 decimal). Ordered by imei,
        reading_time."""
        a, b = self._window(start, end)
        out = []
        for dev, plan in self._device_days(a, b, imeis, keep=lambda d: d.has_temperature_sensor):
            h = dev.imei_int
            for t in self._plan_grid(plan, a, b, TEMPERATURE_INTERVAL_S):
                if plan.is_silent(t):
                    continue
                seg = plan.segment_at(t)
                temp = 4.0 + 2.0 * (unit(h, t, 45) - 0.5)
                if seg.kind == "park" and seg.place is not None and seg.place.kind != "depot" \
                        and t - seg.start < 1200:
                    temp += 6.0 * (1 - (t - seg.start) / 1200)
                out.append({"imei": dev.imei, "reading_time": ts_dt(t), "temperature_c": _dec1(temp),
                            "humidity_pct": _dec1(70 + 15 * unit(h, t, 46))})
        return out

    # --------------------------------------------------------------------------------------- LBS ----
    def lbs_spells(self, imei: str, day: date) -> list[tuple[int, int]]:
        """[a, b) epoch spells of the device-day in which GPS is weak (urban canyons, underpasses): about
        30 % of the drives of 10 minutes or more have one of 2–6 minutes. Seeded by (seed, imei, day)."""
        dev = self.fleet.by_imei[imei]
        plan = self.fleet.plan(imei, day)
        rng = random.Random(mix(self.fleet.seed, dev.imei_int, day.toordinal(), 31))
        spells = []
        for seg in plan.segments:
            if seg.kind != "drive" or seg.end - seg.start < 600 or rng.random() >= 0.30:
                continue
            a = seg.start + LBS_INTERVAL_S * rng.randint(1, (seg.end - seg.start) // LBS_INTERVAL_S - 8)
            spells.append((a, min(a + LBS_INTERVAL_S * rng.randint(2, 6), seg.end)))
        return spells

    def _cells(self, dev: Device, lat: float, lng: float, t: int) -> dict:
        """The serving cell and two neighbours: towers on a ~1 km grid, ids stable per place."""
        kenya = CITIES[dev.city]["country"] == "KE"
        qa, qo = int(round(lat * 100)), int(round(lng * 100))
        cells = []
        for n, (da, do) in enumerate(((0, 0), (1, 0), (0, 1))):
            tower = mix(self.fleet.seed, qa + da, qo + do, 43)
            cells.append({"lac": 1000 + tower % 9000, "ci": 10_000 + (tower >> 20) % 90_000,
                          "rssi": -55 - 12 * n - mix(dev.imei_int, t, 47, n) % 12})
        return {"mcc": 639 if kenya else 641, "mnc": 2 if kenya else 10, "cells": cells}

    def lbs_readings(self, start: datetime, end: datetime, imeis=None) -> list[dict]:
        """LBS fixes (push ``/pushlbs`` → ``lbs_readings``): every ``LBS_INTERVAL_S`` within a weak-GPS spell
        (see ``lbs_spells``; GPS fixes keep coming too), never while silent, ``start <= reading_time <
        end``. Keys: imei, reading_time, post_type ("2" = LBS, as track.list's posType), lbs (the parsed
        ``lbsJson``: ``{"mcc": int, "mnc": int, "cells": [{"lac": int, "ci": int, "rssi": int} × 3]}``).
        Ordered by imei, reading_time."""
        a, b = self._window(start, end)
        out = []
        for dev, plan in self._device_days(a, b, imeis):
            for sa, sb in self.lbs_spells(dev.imei, plan.day):
                for t in range(sa, sb, LBS_INTERVAL_S):
                    if not (a <= t < b) or plan.is_silent(t):
                        continue
                    lat, lng, _ = plan.segment_at(t).position_at(t)
                    out.append({"imei": dev.imei, "reading_time": ts_dt(t), "post_type": "2",
                                "lbs": self._cells(dev, lat, lng, t)})
        return out

    # -------------------------------------------------------------------------------- fault codes ---
    def _day_faults(self, dev: Device, plan: DayPlan) -> list[tuple[int, str, str]]:
        """(time, code, detail) of the OBD faults a device reports that day: on ~25 % of days, one or two
        codes at OBD reading times (ACC on). Seeded by (seed, imei, day); silence is applied later."""
        rng = random.Random(mix(self.fleet.seed, dev.imei_int, plan.day.toordinal(), 37))
        if rng.random() >= 0.25:
            return []
        times = [t for seg in plan.segments if seg.kind != "park"
                 for t in seg.grid(seg.start, seg.end) if not (t - seg.start) % OBD_INTERVAL_S]
        if not times:
            return []
        found = {}
        for _ in range(rng.choice((1, 1, 2))):
            t = rng.choice(times)
            code, detail = rng.choice(FAULT_CODES)
            found[(t, code)] = detail
        return sorted((t, code, detail) for (t, code), detail in found.items())

    def fault_codes(self, start: datetime, end: datetime, imeis=None) -> list[dict]:
        """OBD fault codes (push ``/pushfaultinfo`` → ``fault_codes``) of OBD devices, ``start <=
        fault_time < end``, not while silent. Keys: imei, fault_time, fault_code, fault_detail,
        device_name (the fields of jimi.device.obd.fault). Ordered by imei, fault_time, fault_code."""
        a, b = self._window(start, end)
        out = []
        for dev, plan in self._device_days(a, b, imeis, keep=lambda d: d.has_obd):
            for t, code, detail in self._day_faults(dev, plan):
                if a <= t < b and not plan.is_silent(t):
                    out.append({"imei": dev.imei, "fault_time": ts_dt(t), "fault_code": code,
                                "fault_detail": detail, "device_name": dev.device_name})
        return out

    # ----------------------------------------------------------------------- ICCID / VIN reports ---
    def attribute_reports(self, start: datetime, end: datetime, imeis=None) -> list[dict]:
        """ICCID / VIN reports (push ``/pushalarm`` with ``type`` ICCID / VIN → device_attribute_reports),
        ``start <= reported_at < end``, never while silent: every device reports its ICCID once a day (at a
        heartbeat time seeded by (seed, imei, day)) and whenever it logs in again after silence (LOGIN);
        OBD devices report the VIN read from the vehicle bus when the engine first starts that day. Values
        equal the device's ``iccid`` / ``vin``. Keys: imei, attribute ("iccid" | "vin"), reported_at, value.
        Ordered by reported_at, imei, attribute."""
        a, b = self._window(start, end)
        found: dict[tuple, dict] = {}

        def add(dev: Device, attribute: str, t: int) -> None:
            found[(t, dev.imei, attribute)] = {"imei": dev.imei, "attribute": attribute, "reported_at": ts_dt(t),
                                               "value": dev.info[attribute]}

        for dev, plan in self._device_days(a, b, imeis):
            t = plan.start + HEARTBEAT_INTERVAL_S * (mix(self.fleet.seed, dev.imei_int, plan.day.toordinal(), 41)
                                                    % (DAY_S // HEARTBEAT_INTERVAL_S))
            if a <= t < b and not plan.is_silent(t):
                add(dev, "iccid", t)
            if dev.has_obd:
                first_on = next((g.start for g in plan.segments if g.kind != "park"), None)
                if first_on is not None and a <= first_on < b and not plan.is_silent(first_on):
                    add(dev, "vin", first_on)
        for event in self.events(start, end, imeis):
            if event["event_type"] == "LOGIN":
                add(self.fleet.by_imei[event["imei"]], "iccid", utc_ts(event["event_time"]))
        return [found[k] for k in sorted(found)]

    # ------------------------------------------------------------------------- per receiver table ---
    def push_rows(self, start: datetime, end: datetime, imeis=None, paths=tuple(PUSH_TABLES)) -> dict[str, list]:
        """What the push receiver should store from ``fleet.push_requests(start, end, fmt="iothub",
        paths=paths)``: ``{table: [row, ...]}`` for the tables of ``PUSH_TABLES`` (tracksolid schema), rows
        keyed by column (without raw / source / ingested_at). Columns a push item does not carry are
        ``None`` (alarms: device_name, positioning_time); position_history.pos_type and lbs_readings.post_type
        are the pushed ``postType`` codes ("1", "2") in polling's vocabulary ("GPS", "LBS")."""
        out: dict[str, list] = {}
        if "/pushgps" in paths:
            keep = ("imei", "gps_time", "lat", "lng", "speed_kmh", "direction", "acc_status", "satellite",
                    "gps_mode", "odometer_km", "altitude")
            out["position_history"] = [{**{k: f[k] for k in keep}, "pos_type": "GPS"}
                                       for f in self.fixes(start, end, imeis)]
        if "/pushhb" in paths:
            out["heartbeats"] = self.heartbeats(start, end, imeis)
        if "/pushalarm" in paths:
            out["alarms"] = [{**{k: v for k, v in a.items() if k != "device_name"}, "device_name": None,
                              "positioning_time": None} for a in self.alarms(start, end, imeis)]
            out["device_attribute_reports"] = self.attribute_reports(start, end, imeis)
        if "/pushevent" in paths:
            out["device_events"] = self.events(start, end, imeis)
        if "/pushobd" in paths:
            out["obd_readings"] = self.obd(start, end, imeis)
        if "/pushfaultinfo" in paths:
            out["fault_codes"] = self.fault_codes(start, end, imeis)
        if "/pushtripreport" in paths:
            out["push_trip_reports"] = self.trip_reports(start, end, imeis)
        if "/pushoil" in paths:
            out["fuel_readings"] = self.fuel_readings(start, end, imeis)
        if "/pushtem" in paths:
            out["temperature_readings"] = self.temperature_readings(start, end, imeis)
        if "/pushlbs" in paths:
            out["lbs_readings"] = [{**r, "post_type": "LBS"} for r in self.lbs_readings(start, end, imeis)]
        return out
