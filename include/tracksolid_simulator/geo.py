"""Small geometry helpers and the simulated geography (depots, customer sites), plus deterministic hashing."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
MASK64 = (1 << 64) - 1


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def mix(*parts: int) -> int:
    """Deterministic 64-bit hash of integers (stable across processes, unlike ``hash(str)``)."""
    h = 0x243F6A8885A308D3
    for part in parts:
        h = splitmix64(h ^ (part & MASK64))
    return h


def unit(*parts: int) -> float:
    """Deterministic float in [0, 1)."""
    return (mix(*parts) >> 11) / float(1 << 53)


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lng2 - lng1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(y, x)) + 360.0) % 360.0


def offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    """Point displaced by metres north/east (flat approximation, fine at city scale)."""
    dlat = north_m / 111_320.0
    dlng = east_m / (111_320.0 * math.cos(math.radians(lat)))
    return lat + dlat, lng + dlng


def to_local_m(lat0: float, lng0: float, lat: float, lng: float) -> tuple[float, float]:
    """(north, east) metres of a point relative to an origin (flat approximation)."""
    return (lat - lat0) * 111_320.0, (lng - lng0) * 111_320.0 * math.cos(math.radians(lat0))


@dataclass(frozen=True)
class Place:
    name: str
    kind: str  # depot | customer_site
    city: str
    lat: float
    lng: float
    radius_m: float


# Depots: Nairobi (Kikuyu Road, SPEC §1) is the main one; Mombasa and Kampala branches.
CITIES = {
    "Nairobi": {"depot": (-1.237, 36.727), "radius_m": 14_000, "country": "KE", "tz": "Africa/Nairobi"},
    "Mombasa": {"depot": (-4.0435, 39.6682), "radius_m": 9_000, "country": "KE", "tz": "Africa/Nairobi"},
    "Kampala": {"depot": (0.3136, 32.5811), "radius_m": 10_000, "country": "UG", "tz": "Africa/Kampala"},
}
CITY_CODES = {"Nairobi": "NBO", "Mombasa": "MBA", "Kampala": "KLA"}
SITES_PER_CITY = 40


def build_places(seed: int) -> dict[str, list[Place]]:
    """Depot (first) and customer sites of each city, deterministic per seed."""
    places: dict[str, list[Place]] = {}
    for ci, (city, info) in enumerate(CITIES.items()):
        dlat, dlng = info["depot"]
        code = CITY_CODES[city]
        items = [Place(f"Depot {city}", "depot", city, dlat, dlng, 150.0)]
        for k in range(SITES_PER_CITY):
            r = info["radius_m"] * (0.15 + 0.85 * math.sqrt(unit(seed, 7001, ci, k)))
            angle = 2 * math.pi * unit(seed, 7002, ci, k)
            if city == "Mombasa":  # keep sites on the mainland side, away from the ocean to the east
                angle = math.pi / 2 + math.pi * unit(seed, 7002, ci, k)
            lat, lng = offset(dlat, dlng, r * math.cos(angle), r * math.sin(angle))
            items.append(Place(f"Site {code}-{k + 1:02d}", "customer_site", city, round(lat, 6),
                               round(lng, 6), 100.0))
        places[city] = items
    return places
