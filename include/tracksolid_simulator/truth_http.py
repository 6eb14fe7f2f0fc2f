"""``GET /_sim/truth/<kind>``: the ground truth over HTTP (same methods as ``fleet.truth``).

Query parameters: ``start``, ``end`` (ISO-8601 or ``yyyy-MM-dd HH:mm:ss``, UTC when no offset), ``imeis``
(comma-separated), ``acc_type`` (parking), ``imei`` + ``at`` (latest_fix), ``completed_by`` /
``arrived_by`` (``now`` = the simulated clock). Kinds: devices, fixes, latest_fix, trips, parking, alarms,
obd, stops, idle_spells, heartbeats, events, sites.
"""

from __future__ import annotations

from datetime import datetime

from tracksolid_hook.values import parse_time


def _when(args, key: str, now: datetime, required: bool = True) -> datetime | None:
    raw = args.get(key)
    if not raw:
        if required:
            raise ValueError(f"missing {key}")
        return None
    return now if raw == "now" else parse_time(raw)


def truth_query(truth, kind: str, args, now: datetime):
    imeis = args.get("imeis") or None
    if kind == "devices":
        return truth.devices(at=_when(args, "at", now, required=False))
    if kind == "sites":
        return truth.fleet.sites()
    if kind == "latest_fix":
        return truth.latest_fix(args["imei"], _when(args, "at", now, required=False) or now)
    start, end = _when(args, "start", now), _when(args, "end", now)
    if kind == "fixes":
        return truth.fixes(start, end, imeis, arrived_by=_when(args, "arrived_by", now, required=False))
    if kind == "trips":
        return truth.trips(start, end, imeis, completed_by=_when(args, "completed_by", now, required=False))
    if kind == "parking":
        return truth.parking(start, end, args.get("acc_type", "off"), imeis,
                             completed_by=_when(args, "completed_by", now, required=False))
    simple = {"alarms": truth.alarms, "obd": truth.obd, "stops": truth.stops, "idle_spells": truth.idle_spells,
              "heartbeats": truth.heartbeats, "events": truth.events, "trip_reports": truth.trip_reports,
              "fuel_readings": truth.fuel_readings, "temperature_readings": truth.temperature_readings,
              "lbs_readings": truth.lbs_readings, "fault_codes": truth.fault_codes,
              "attribute_reports": truth.attribute_reports}
    if kind not in simple:
        raise KeyError(f"unknown truth kind {kind!r}")
    return simple[kind](start, end, imeis)
