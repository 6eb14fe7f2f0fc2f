"""A deterministic, realistic fleet: the devices and what each one does every day.

Each device-day is planned from ``(seed, imei, local date)`` alone, so any past window is reproducible without
simulating from an epoch, and generation is lazy (plans are small and cached; fixes are computed on demand).

A working day (local time, EAT = UTC+3): parked at the city depot overnight (ACC off) → sometimes an idle
warm-up → drives to customer sites (traffic stops, overspeed bursts, harsh events) → idles and parks at each
site → drives home on a route whose length uses exactly the day's odometer budget → parked until midnight.
Rest days are parked all day. Flaky devices go silent for hours, chronic ones for days; buffered devices
re-upload stretches of a drive later (``gps_mode`` = 1, ``arrived_at`` > ``gps_time``).

Odometer: ``odo_base + whole weeks * weekly_km + this week's earlier days`` at local midnight, plus distance
driven so far; each working day drives exactly its weekday budget, so the odometer is continuous.
"""

from __future__ import annotations

import math
import random
import threading
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from tracksolid_simulator.config import SimulatorConfig
from tracksolid_simulator.geo import (
    CITIES,
    Place,
    bearing_deg,
    build_places,
    haversine_m,
    mix,
    offset,
    to_local_m,
    unit,
)

LOCAL_OFFSET_S = 3 * 3600  # EAT (Africa/Nairobi, Africa/Kampala): UTC+3, no DST
DAY_S = 86_400
ODOMETER_EPOCH = date(2024, 1, 1)  # a Monday: origin of the weekly odometer bookkeeping

DRIVE_INTERVAL_S = 30
IDLE_INTERVAL_S = 60
PARK_INTERVAL_S = 900
HEARTBEAT_INTERVAL_S = 600
OBD_INTERVAL_S = 300
# Push-only sensor streams (added for /pushoil, /pushtem, /pushlbs; see Truth.fuel_readings etc.)
FUEL_INTERVAL_S = 300  # fuel level while ACC is on; hourly (on the local-day grid) while parked
TEMPERATURE_INTERVAL_S = 600
LBS_INTERVAL_S = 60  # cell-tower fixes while GPS is weak
FAULT_CODES = (  # (faultCode, faultDetail) of OBD devices' occasional /pushfaultinfo reports
    ("P0300", "Random/multiple cylinder misfire detected"),
    ("P0171", "System too lean (bank 1)"),
    ("P0420", "Catalyst system efficiency below threshold (bank 1)"),
    ("P0128", "Coolant thermostat (coolant temperature below thermostat regulating temperature)"),
    ("P0442", "Evaporative emission system leak detected (small leak)"),
    ("P0562", "System voltage low"),
    ("P2407", "Fuel evaporative emission system leak detection pump sense circuit intermittent"),
    ("U0100", "Lost communication with ECM/PCM A"),
    ("C0035", "Left front wheel speed sensor circuit"),
    ("B0074", "Seat belt pretensioner deployment control"),
)

ALARM_NAMES = {
    "2": "Power cut off alert",
    "6": "Overspeed alert(terminal)",
    "41": "Sudden Acceleration Alert",
    "42": "Sharp Turn Left Alert",
    "43": "Sharp Turn Right Alert",
    "48": "Sudden Deceleration Alert",
    "overSpeed": "Overspeed alert(platform)",
    "in": "Enter geo-fence",
    "out": "Exit geo-fence",
}

MODELS = [("AT4", 0.40), ("JC400P", 0.20), ("X3", 0.20), ("GT06E", 0.20)]
VEHICLES = [  # (model, brand, icon, fuel_100km, share)
    ("Toyota Probox", "Toyota", "automobile", "9", 0.30),
    ("Toyota Hiace", "Toyota", "bus", "12", 0.15),
    ("Toyota Land Cruiser", "Toyota", "automobile", "14", 0.10),
    ("Isuzu D-Max", "Isuzu", "truck", "11", 0.15),
    ("Nissan NV200", "Nissan", "automobile", "8", 0.10),
    ("Honda CB125", "Honda", "mtc", "3", 0.20),
]
FIRST_NAMES = ["James", "Mary", "Peter", "Grace", "John", "Faith", "David", "Mercy", "Joseph", "Ann",
               "Samuel", "Esther", "Daniel", "Ruth", "Brian", "Joy", "Kevin", "Irene", "Moses", "Lucy"]
LAST_NAMES = ["Otieno", "Wanjiru", "Mwangi", "Achieng", "Kamau", "Njeri", "Odhiambo", "Mutua", "Kiprop",
              "Wambui", "Okello", "Nakato", "Ssempala", "Auma", "Mugisha", "Chebet", "Barasa", "Kariuki"]
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def utc_ts(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware (UTC) datetime")
    return int(math.floor(moment.timestamp()))


def ts_dt(ts: int | float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def local_date_of(ts: int) -> date:
    return datetime.fromtimestamp(ts + LOCAL_OFFSET_S, tz=UTC).date()


def local_day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) - LOCAL_OFFSET_S


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _pick(weighted, u: float):
    acc = 0.0
    for item in weighted:
        acc += item[-1]
        if u < acc:
            return item
    return weighted[-1]


@dataclass(frozen=True)
class Device:
    """Static facts of one tracker + vehicle; ``info`` is keyed by tracksolid.devices column names."""

    index: int
    imei: str
    imei_int: int
    account: str
    city: str
    model: str
    base: Place
    daily_m: tuple[int, ...]  # odometer budget per weekday, Monday first
    odo_base_m: int
    buffered: bool
    flaky: bool
    chronic_silent: bool
    altitude_m: int
    info: dict = field(hash=False, compare=False)

    @property
    def has_obd(self) -> bool:
        return self.model == "GT06E"

    @property
    def device_name(self) -> str:
        return self.info["device_name"]

    # Sensor fit, derived from the IMEI alone (the IMEI already depends on the seed): stable per device.
    @property
    def has_fuel_sensor(self) -> bool:
        """A fuel-level sensor (``/pushoil``): about 30 % of the vehicles that are not motorcycles."""
        return self.info["vehicle_icon"] != "mtc" and unit(self.imei_int, 130) < 0.30

    @property
    def has_temperature_sensor(self) -> bool:
        """A temperature/humidity probe in a refrigerated body (``/pushtem``): about 12 % of the
        vehicles that are not motorcycles."""
        return self.info["vehicle_icon"] != "mtc" and unit(self.imei_int, 131) < 0.12

    @property
    def fuel_tank_l(self) -> int:
        """Tank capacity in litres (50 … 90)."""
        return 50 + 10 * (mix(self.imei_int, 132) % 5)


class Segment:
    """One contiguous state of a device-day: park (ACC off), idle (ACC on, still) or drive."""

    __slots__ = ("kind", "start", "end", "lat", "lng", "heading", "place", "interval", "odo_start_m",
                 "path", "cum", "bearings", "knots_t", "knots_d", "cruise", "stops", "bursts", "waypoint_t")

    def __init__(self, kind: str, start: int, end: int, odo_start_m: float, lat: float = 0.0,
                 lng: float = 0.0, heading: float = 0.0, place: Place | None = None) -> None:
        self.kind = kind
        self.start = start
        self.end = end
        self.odo_start_m = odo_start_m
        self.lat, self.lng, self.heading, self.place = lat, lng, heading, place
        self.interval = {"drive": DRIVE_INTERVAL_S, "idle": IDLE_INTERVAL_S, "park": PARK_INTERVAL_S}[kind]
        self.path = self.cum = self.bearings = self.knots_t = self.knots_d = None
        self.cruise = 0.0
        self.stops: list[tuple[int, int]] = []
        self.bursts: list[tuple[int, int, float]] = []
        self.waypoint_t: list[tuple[int, float]] = []

    @property
    def length_m(self) -> float:
        return self.cum[-1] if self.kind == "drive" else 0.0

    def distance_at(self, t: int) -> float:
        if self.kind != "drive":
            return 0.0
        kt, kd = self.knots_t, self.knots_d
        i = bisect_right(kt, t) - 1
        if i < 0:
            return 0.0
        if i >= len(kt) - 1:
            return kd[-1]
        t0, t1 = kt[i], kt[i + 1]
        if t1 == t0:
            return kd[i + 1]
        return kd[i] + (kd[i + 1] - kd[i]) * (t - t0) / (t1 - t0)

    def position_at(self, t: int) -> tuple[float, float, float]:
        """(lat, lng, heading) at time t."""
        if self.kind != "drive":
            return self.lat, self.lng, self.heading
        d = self.distance_at(t)
        cum = self.cum
        j = min(max(bisect_right(cum, d) - 1, 0), len(cum) - 2)
        piece = cum[j + 1] - cum[j]
        f = 0.0 if piece <= 0 else (d - cum[j]) / piece
        (la, lo), (lb, lob) = self.path[j], self.path[j + 1]
        return la + (lb - la) * f, lo + (lob - lo) * f, self.bearings[j]

    def grid(self, a: int, b: int):
        """Fix times of this segment within [a, b)."""
        lo, hi = max(a, self.start), min(b, self.end)
        if lo >= hi:
            return range(0)
        iv = self.interval
        first = self.start + -(-(lo - self.start) // iv) * iv
        return range(first, hi, iv)


class DayPlan:
    __slots__ = ("imei", "day", "start", "end", "segments", "seg_starts", "silent", "buffers", "alarms",
                 "odo_start_m", "odo_end_m")

    def segment_at(self, t: int) -> Segment:
        i = bisect_right(self.seg_starts, t) - 1
        return self.segments[max(i, 0)]

    def is_silent(self, t: int) -> bool:
        return any(a <= t < b for a, b in self.silent)

    def overlaps_silence(self, a: int, b: int) -> bool:
        return any(sa <= b and a < sb for sa, sb in self.silent)

    def arrival(self, t: int) -> tuple[int, int]:
        """(gps_mode, arrived_at) of a fix at t."""
        for a, b, release in self.buffers:
            if a <= t < b:
                return 1, release
        return 0, t


class Fleet:
    """The simulated fleet; deterministic for ``(seed, devices, accounts)``. ``fleet.truth`` answers what
    every device really did in any window."""

    def __init__(self, cfg: SimulatorConfig | None = None, *, plan_cache_size: int = 20_000) -> None:
        from tracksolid_simulator.truth import Truth  # local import: truth depends on this module

        self.cfg = cfg or SimulatorConfig()
        self.seed = self.cfg.seed
        self.accounts = self.cfg.account_names()
        self.places = build_places(self.seed)
        self.devices: list[Device] = []
        self.by_imei: dict[str, Device] = {}
        seen: set[str] = set()
        for i in range(self.cfg.devices):
            dev = self._build_device(i, seen)
            self.devices.append(dev)
            self.by_imei[dev.imei] = dev
        self._plans: OrderedDict[tuple[str, int], DayPlan] = OrderedDict()
        self._plan_cache_size = plan_cache_size
        self._lock = threading.Lock()
        self.truth = Truth(self)

    def push_requests(self, start: datetime, end: datetime, fmt: str = "iothub", replay_ratio: float = 0.0,
                      token: str | None = None, **kwargs) -> list[tuple[str, dict]]:
        """The truth of ``[start, end)`` as push requests: ``[(path, form_dict), ...]`` (see ``push.py``)."""
        from tracksolid_simulator.push import push_requests

        return push_requests(self, start, end, fmt=fmt, replay_ratio=replay_ratio, token=token, **kwargs)

    # ---------------------------------------------------------------------------------- catalogue ----
    def customer_name(self, account: str) -> str:
        idx = self.accounts.index(account)
        return "Fleet HQ Telecom Services" if idx == 0 else f"Fleet Region {idx}"

    def children(self, account: str) -> list[str]:
        """Sub-accounts of an account: the head account is the parent of all others."""
        return self.accounts[1:] if account == self.accounts[0] else []

    def visible_accounts(self, account: str) -> set[str]:
        return {account, *self.children(account)}

    def imeis_of(self, account: str) -> list[str]:
        return [d.imei for d in self.devices if d.account == account]

    def device(self, imei: str) -> Device | None:
        return self.by_imei.get(imei)

    def sites(self) -> list[dict]:
        """Depots and customer sites (for geofence seeding): name, kind, city, lat, lng, radius_m."""
        return [dict(name=p.name, kind=p.kind, city=p.city, lat=p.lat, lng=p.lng, radius_m=p.radius_m)
                for places in self.places.values() for p in places]

    def _build_device(self, i: int, seen: set[str]) -> Device:
        s = self.seed
        k = 0
        while True:
            body = f"86{mix(s, 101, i, k) % 10**12:012d}"
            imei = body + _luhn_digit(body)
            if imei not in seen:
                break
            k += 1
        seen.add(imei)
        account = self.accounts[i % len(self.accounts)]
        u_city = unit(s, 102, i)
        city = "Nairobi" if u_city < 0.70 else ("Mombasa" if u_city < 0.85 else "Kampala")
        model = _pick(MODELS, unit(s, 103, i))[0]
        vmodel, brand, icon, fuel, _ = _pick(VEHICLES, unit(s, 104, i))
        if model == "X3":  # the compact tracker rides on motorcycles
            vmodel, brand, icon, fuel = "Honda CB125", "Honda", "mtc", "3"
        country = CITIES[city]["country"]
        letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
        L = lambda n: letters[mix(s, 105, i, n) % len(letters)]  # noqa: E731
        digits = mix(s, 106, i) % 900 + 100
        if country == "KE":
            plate = (f"KM{L(1)} {digits}{L(2)}" if icon == "mtc" else f"KD{L(1)} {digits}{L(2)}")
            sim = f"2547{mix(s, 107, i) % 10**8:08d}"
            imsi = f"63902{mix(s, 108, i) % 10**10:010d}"
            phone_prefix = "+2547"
        else:
            plate = f"UB{L(1)} {digits}{L(2)}"
            sim = f"2567{mix(s, 107, i) % 10**8:08d}"
            imsi = f"64110{mix(s, 108, i) % 10**10:010d}"
            phone_prefix = "+2567"
        vin = "".join(VIN_CHARS[mix(s, 109, i, n) % len(VIN_CHARS)] for n in range(17))
        has_driver = unit(s, 110, i) >= 0.08
        driver = (f"{FIRST_NAMES[mix(s, 111, i) % len(FIRST_NAMES)]} "
                  f"{LAST_NAMES[mix(s, 112, i) % len(LAST_NAMES)]}") if has_driver else None
        has_plate = unit(s, 113, i) >= 0.03
        activation = datetime(2022, 1, 1, tzinfo=UTC) + timedelta(seconds=mix(s, 114, i) % (3 * 365 * DAY_S))
        activation = activation.replace(microsecond=0)
        group_id = f"{mix(s, 115, list(CITIES).index(city)):016x}"
        # odometer budget per weekday (metres): rest days drive nothing
        base_km = (45 + 75 * unit(s, 120, i)) if city == "Nairobi" else (35 + 55 * unit(s, 120, i))
        if icon == "mtc":
            base_km *= 0.7
        sunday_off = unit(s, 121, i) < 0.7
        rest_weekday = (mix(s, 122, i) % 5) if unit(s, 123, i) < 0.2 else None
        daily = []
        for dow in range(7):
            factor = 0.85 + 0.3 * unit(s, 124, i, dow)
            if dow == 5:
                factor *= 0.5
            if (dow == 6 and sunday_off) or dow == rest_weekday:
                factor = 0.0
            elif dow == 6:
                factor *= 0.4
            km = base_km * factor
            daily.append(0 if km == 0 else int(max(8.0, km) * 1000))
        device_name = f"{model}-{imei[-5:]}"
        info = {
            "imei": imei,
            "account": account,
            "customer_name": self.customer_name(account),
            "device_name": device_name,
            "mc_type": model,
            "mc_type_use_scope": "automobile",
            "sim": sim,
            "iccid": f"89{254 if country == 'KE' else 256}{mix(s, 116, i) % 10**14:014d}",
            "imsi": imsi,
            "expiration": activation + timedelta(days=3652),
            "activation_time": activation,
            "import_time": activation - timedelta(days=3),
            "remark": None if unit(s, 117, i) < 0.8 else "spare unit",
            "vehicle_name": f"{vmodel} {plate}" if has_plate else vmodel,
            "vehicle_icon": icon,
            "vehicle_number": plate if has_plate else None,
            "vehicle_models": vmodel,
            "vehicle_brand": brand,
            "license_plate_no": plate if has_plate else None,
            "car_frame": vin,
            "vin": vin,
            "engine_number": f"EN{mix(s, 118, i) % 10**7:07d}",
            "driver_name": driver,
            "driver_phone": f"{phone_prefix}{mix(s, 119, i) % 10**8:08d}" if has_driver else None,
            "device_group_id": group_id,
            "device_group": city,
            "enabled_flag": 1,
            "status": "1",
            "fuel_100km": fuel,
            "assigned_city": city,
        }
        return Device(
            index=i, imei=imei, imei_int=int(imei), account=account, city=city, model=model,
            base=self.places[city][0], daily_m=tuple(daily),
            odo_base_m=int((20_000 + 160_000 * unit(s, 125, i)) * 1000),
            buffered=unit(s, 126, i) < 0.35, flaky=unit(s, 127, i) < 0.15,
            chronic_silent=unit(s, 128, i) < 0.03,
            altitude_m={"Nairobi": 1700, "Mombasa": 20, "Kampala": 1190}[city], info=info,
        )

    # ------------------------------------------------------------------------------------ odometer ---
    def odometer_at_day_start_m(self, dev: Device, day: date) -> int:
        n = (day - ODOMETER_EPOCH).days
        weeks, dow = divmod(n, 7)
        return dev.odo_base_m + weeks * sum(dev.daily_m) + sum(dev.daily_m[:dow])

    # -------------------------------------------------------------------------------------- plans ----
    def plan(self, imei: str, day: date) -> DayPlan:
        key = (imei, day.toordinal())
        with self._lock:
            hit = self._plans.get(key)
            if hit is not None:
                self._plans.move_to_end(key)
                return hit
        dev = self.by_imei[imei]
        plan = self._build_plan(dev, day)
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > self._plan_cache_size:
                self._plans.popitem(last=False)
        return plan

    def silent_windows(self, dev: Device, day: date) -> list[tuple[int, int]]:
        """Periods in which the device sends nothing (no fixes, heartbeats, alarms, OBD)."""
        start = local_day_start(day)
        n = day.toordinal()
        if dev.chronic_silent and mix(self.seed, dev.imei_int, n // 5, 91) % 3 == 0:
            return [(start, start + DAY_S)]
        if dev.flaky:
            rng = random.Random(mix(self.seed, dev.imei_int, n, 17))
            if rng.random() < 0.25:
                a = start + 30 * rng.randint(0, 2800)
                return [(a, min(a + 30 * rng.randint(240, 1680), start + DAY_S))]
        return []

    def _road_path(self, a: tuple[float, float], b: tuple[float, float], rng: random.Random):
        """A plausible road: the straight line bent through one or two waypoints."""
        n_m, e_m = to_local_m(a[0], a[1], b[0], b[1])
        dist = math.hypot(n_m, e_m)
        if dist < 1.0:
            return [a, b]
        pn, pe = -e_m / dist, n_m / dist  # unit perpendicular
        pts = [a]
        for f in sorted(rng.uniform(0.2, 0.8) for _ in range(rng.choice((1, 2)))):
            off = dist * rng.uniform(0.04, 0.15) * rng.choice((-1, 1))
            pts.append(offset(a[0], a[1], n_m * f + pn * off, e_m * f + pe * off))
        pts.append(b)
        return pts

    def _exact_path(self, a: tuple[float, float], b: tuple[float, float], length: float,
                    rng: random.Random):
        """A route from a to b of (nominally) exactly ``length`` metres: an apex detour, or a loop."""
        n_m, e_m = to_local_m(a[0], a[1], b[0], b[1])
        dist = math.hypot(n_m, e_m)
        if length <= dist * 1.001:
            return [a, b]
        if dist < 50.0:  # loop out and back: an equilateral triangle
            side = length / 3
            th = rng.uniform(0, 2 * math.pi)
            p1 = offset(a[0], a[1], side * math.cos(th), side * math.sin(th))
            p2 = offset(a[0], a[1], side * math.cos(th + math.pi / 3), side * math.sin(th + math.pi / 3))
            return [a, p1, p2, b]
        half = length / 2
        apex_off = math.sqrt(max(half * half - (dist / 2) ** 2, 0.0)) * rng.choice((-1, 1))
        pn, pe = -e_m / dist, n_m / dist
        apex = offset(a[0], a[1], n_m / 2 + pn * apex_off, e_m / 2 + pe * apex_off)
        return [a, apex, b]

    def _drive(self, path, t0: int, rng: random.Random, odo: float, nominal_length: float | None = None,
               latest_end: int | None = None) -> Segment:
        seg = Segment("drive", t0, t0, odo)
        seg.path = [(float(la), float(lo)) for la, lo in path]
        cum = [0.0]
        bearings = []
        for (la, lo), (lb, lob) in zip(seg.path, seg.path[1:], strict=False):
            cum.append(cum[-1] + haversine_m(la, lo, lb, lob))
            bearings.append(bearing_deg(la, lo, lb, lob))
        if nominal_length is not None and cum[-1] > 0:  # odometer budget: scale to the exact length
            k = nominal_length / cum[-1]
            cum = [c * k for c in cum]
        seg.cum, seg.bearings = cum, bearings or [0.0]
        length = cum[-1]
        cruise = rng.uniform(55, 75) if length > 30_000 else rng.uniform(22, 45)
        moving_s = max(60, int(math.ceil(length / (cruise / 3.6) / 30.0)) * 30)
        stops: list[tuple[int, int]] = []
        if moving_s >= 300:
            for _ in range(rng.choice((0, 1, 1, 2))):
                m = 30 * rng.randint(2, moving_s // 30 - 2)
                if all(abs(m - s) > 60 for s, _ in stops):
                    stops.append((m, 30 * rng.randint(1, 4)))
        stops.sort()
        total = moving_s + sum(d for _, d in stops)
        if latest_end is not None and t0 + total > latest_end:  # running late: drive faster, no stops
            stops = []
            moving_s = max(60, (max(latest_end - t0, 60) // 30) * 30)
            total = moving_s
        seg.cruise = length / moving_s * 3.6
        kt, kd = [t0], [0.0]
        waited = 0
        for m, dur in stops:
            d = length * m / moving_s
            kt += [t0 + m + waited, t0 + m + waited + dur]
            kd += [d, d]
            seg.stops.append((t0 + m + waited, t0 + m + waited + dur))
            waited += dur
        kt.append(t0 + moving_s + waited)
        kd.append(length)
        seg.knots_t, seg.knots_d = kt, kd
        seg.end = t0 + total
        # overspeed burst (more likely on the highway)
        if moving_s >= 300 and rng.random() < (0.15 if length > 30_000 else 0.04):
            m = 30 * rng.randint(2, moving_s // 30 - 5)
            a = t0 + m + sum(d for s, d in stops if s <= m)
            b = a + 30 * rng.randint(2, 4)
            if all(b <= sa or a >= sb for sa, sb in seg.stops) and b < seg.end:
                seg.bursts.append((a, b, rng.uniform(86, 104)))
        # times at which interior waypoints are passed (sharp-turn alarms)
        for j in range(1, len(cum) - 1):
            frac_m = cum[j] / length * moving_s if length else 0
            t_pass = t0 + int(frac_m) + sum(d for s, d in stops if s <= frac_m)
            turn = (bearings[j] - bearings[j - 1] + 540) % 360 - 180
            seg.waypoint_t.append((t0 + ((t_pass - t0) // 30) * 30, turn))
        return seg

    def _build_plan(self, dev: Device, day: date) -> DayPlan:
        s = self.seed
        rng = random.Random(mix(s, dev.imei_int, day.toordinal(), 1))
        start = local_day_start(day)
        end = start + DAY_S
        budget = dev.daily_m[day.weekday()]
        odo = float(self.odometer_at_day_start_m(dev, day))
        base = dev.base
        home = (base.lat, base.lng)
        segs: list[Segment] = []
        if budget <= 0:
            segs.append(Segment("park", start, end, odo, base.lat, base.lng, 0.0, base))
        else:
            t = start + 30 * rng.randint(780, 960)  # leave between 06:30 and 08:00 local
            segs.append(Segment("park", start, t, odo, base.lat, base.lng, 0.0, base))
            if rng.random() < 0.6:
                d = 30 * rng.randint(2, 16)
                segs.append(Segment("idle", t, t + d, odo, base.lat, base.lng, 0.0, base))
                t += d
            remaining = float(budget)
            cur_place, cur = base, home
            sites = self.places[dev.city][1:]
            jobs = misses = 0
            while jobs < 6 and misses < 3 and t < start + int(15.5 * 3600):
                site = rng.choice(sites)
                if site is cur_place:
                    continue
                path = self._road_path(cur, (site.lat, site.lng), rng)
                length = sum(haversine_m(*p, *q) for p, q in zip(path, path[1:], strict=False))
                if remaining - length - haversine_m(site.lat, site.lng, *home) * 1.01 < 0:
                    misses += 1
                    continue
                leg = self._drive(path, t, rng, odo)
                segs.append(leg)
                t, remaining, odo = leg.end, remaining - leg.length_m, odo + leg.length_m
                heading = leg.bearings[-1]
                if rng.random() < 0.35:
                    d = 30 * rng.randint(4, 40)
                    segs.append(Segment("idle", t, t + d, odo, site.lat, site.lng, heading, site))
                    t += d
                d = 30 * rng.randint(40, 180)
                segs.append(Segment("park", t, t + d, odo, site.lat, site.lng, heading, site))
                t += d
                cur_place, cur = site, (site.lat, site.lng)
                jobs += 1
            path = self._exact_path(cur, home, remaining, rng)
            leg = self._drive(path, t, rng, odo, nominal_length=remaining, latest_end=end - 1800)
            segs.append(leg)
            odo += leg.length_m
            segs.append(Segment("park", leg.end, end, odo, base.lat, base.lng, leg.bearings[-1], base))
        plan = DayPlan()
        plan.imei, plan.day, plan.start, plan.end = dev.imei, day, start, end
        plan.segments = segs
        plan.seg_starts = [g.start for g in segs]
        plan.odo_start_m = float(self.odometer_at_day_start_m(dev, day))
        plan.odo_end_m = odo
        plan.silent = self.silent_windows(dev, day)
        plan.buffers = self._buffers(dev, day, segs)
        plan.alarms = self._alarms(dev, day, segs)
        return plan

    def _buffers(self, dev: Device, day: date, segs: list[Segment]) -> list[tuple[int, int, int]]:
        """Stretches of a drive stored on the device and re-uploaded later (gps_mode = 1)."""
        if not dev.buffered:
            return []
        rng = random.Random(mix(self.seed, dev.imei_int, day.toordinal(), 23))
        out = []
        for seg in segs:
            if seg.kind != "drive" or seg.end - seg.start < 900 or rng.random() >= 0.5:
                continue
            span = min(30 * rng.randint(20, 80), seg.end - seg.start - 60)
            a = seg.start + 30 * rng.randint(1, max(1, (seg.end - seg.start - span) // 30 - 1))
            b = min(a + span, seg.end)
            release = b + 30 * rng.randint(1, 3)
            if rng.random() < 0.08:
                release += 3600 * rng.randint(1, 6)
            out.append((a, b, release))
        return out

    def _alarms(self, dev: Device, day: date, segs: list[Segment]) -> list[tuple[int, str]]:
        """(time, alertTypeId) of every alarm the device raises that day, times on the fix grid."""
        rng = random.Random(mix(self.seed, dev.imei_int, day.toordinal(), 29))
        found: dict[tuple[int, str], None] = {}
        drives = [g for g in segs if g.kind == "drive"]
        for n, seg in enumerate(drives):
            if n == 0:
                found[(seg.start, "out")] = None
            if n == len(drives) - 1:
                found[(seg.end, "in")] = None
            if rng.random() < 0.12 and seg.start + 30 < seg.end:
                found[(seg.start + 30, "41")] = None
            for a, _b in seg.stops:
                if rng.random() < 0.3:
                    found[(a - 30, "48")] = None
            for t_pass, turn in seg.waypoint_t:
                if abs(turn) > 20 and rng.random() < 0.15:
                    found[(t_pass, "43" if turn > 0 else "42")] = None
            for a, _b, _v in seg.bursts:
                found[(a, "overSpeed")] = None
                if rng.random() < 0.5:
                    found[(a + 30, "6")] = None
        if rng.random() < 0.01:
            parks = [g for g in segs if g.kind == "park"]
            g = rng.choice(parks)
            times = list(g.grid(g.start, g.end))
            if times:
                found[(rng.choice(times), "2")] = None
        return sorted(found)
