"""NOC live (refresh 30 s): live positions on a map coloured by state, moving / idle / parked / offline counts,
the alarms feed, silent devices and vehicles idling now. Reads only current state (live_positions through
tracksolid.v_vehicle_state_now) and small tables: it never scans position_history."""

from __future__ import annotations

from fleet_grafana.panels import (
    CITY_FILTER,
    STATE_COLOURS,
    UID_NOC,
    city_variable,
    dashboard,
    geomap,
    stat,
    table,
    vehicle_link,
    vehicle_override,
)

STATE_COUNT = """
SELECT count(*) AS vehicles
FROM tracksolid.v_vehicle_state_now
WHERE state = '{state}' AND """ + CITY_FILTER

MAP = """
SELECT imei, vehicle, plate, driver_name, state, round(speed_kmh, 1) AS speed_kmh, gps_time, age_s,
       latitude, longitude, to_char(tracksolid.local_day(now()), 'YYYY-MM-DD') AS day
FROM tracksolid.v_vehicle_state_now
WHERE latitude IS NOT NULL AND """ + CITY_FILTER

VEHICLES = """
SELECT vehicle, imei, plate, driver_name, city, state, round(speed_kmh, 1) AS speed_kmh, gps_time, age_s, source
FROM tracksolid.v_vehicle_state_now
WHERE """ + CITY_FILTER + """
ORDER BY CASE state WHEN 'offline' THEN 0 WHEN 'idle' THEN 1 WHEN 'moving' THEN 2 ELSE 3 END, vehicle"""

ALARMS = """
SELECT a.alarm_time AS "time", v.vehicle, a.imei, a.alarm_name, a.speed_kmh, a.source,
       a.lat AS latitude, a.lng AS longitude, to_char(tracksolid.local_day(a.alarm_time), 'YYYY-MM-DD') AS day
FROM tracksolid.alarms a
JOIN tracksolid.v_vehicles v ON v.imei = a.imei
WHERE $__timeFilter(a.alarm_time) AND coalesce(v.city, 'unassigned') IN ($city)
ORDER BY a.alarm_time DESC
LIMIT 200"""

ALARMS_LAST_HOUR = """
SELECT count(*) AS alarms
FROM tracksolid.alarms a
JOIN tracksolid.v_vehicles v ON v.imei = a.imei
WHERE a.alarm_time > now() - interval '1 hour' AND coalesce(v.city, 'unassigned') IN ($city)"""

SILENT = """
SELECT vehicle, imei, plate, driver_name, city, bucket, silent_hours, last_seen_at, last_heartbeat_at,
       never_reported
FROM tracksolid.v_silent_devices
WHERE """ + CITY_FILTER + """
ORDER BY bucket_rank DESC, silent_hours DESC NULLS FIRST"""

SILENT_COUNT = """
SELECT count(*) AS silent
FROM tracksolid.v_silent_devices
WHERE """ + CITY_FILTER

IDLE_NOW = """
SELECT vehicle, imei, plate, driver_name, city, idle_since, idle_s, round(idle_cost_so_far::numeric, 0) AS idle_cost,
       excessive
FROM tracksolid.v_currently_idle
WHERE """ + CITY_FILTER + """
ORDER BY idle_s DESC"""

OPEN_ALERTS = """
SELECT opened_at AS "time", kind, level, vehicle, imei, city, age, detail::text AS detail
FROM ops.v_open_fleet_alerts
WHERE """ + CITY_FILTER + """
ORDER BY opened_at DESC"""

STATE_STEPS = {
    "moving": [(None, "text"), (1, STATE_COLOURS["moving"])],
    "idle": [(None, "text"), (1, STATE_COLOURS["idle"])],
    "parked": [(None, "text"), (1, STATE_COLOURS["parked"])],
    "offline": [(None, "green"), (1, "orange"), (10, STATE_COLOURS["offline"])],
}


def panels() -> list[dict]:
    out = [
        stat(state.capitalize(), STATE_COUNT.format(state=state), unit="none", steps=STATE_STEPS[state],
             w=4, h=4, x=4 * i, y=0, description=f"Vehicles {state} now (v_vehicle_state_now).")
        for i, state in enumerate(("moving", "idle", "parked", "offline"))
    ]
    out += [
        stat("Silent devices", SILENT_COUNT, unit="none", steps=[(None, "green"), (1, "orange"), (5, "red")],
             w=4, h=4, x=16, y=0, description="Active devices silent for the first silent-hours bucket or more."),
        stat("Alarms, last hour", ALARMS_LAST_HOUR, unit="none", steps=[(None, "green"), (5, "orange"),
             (20, "red")], w=4, h=4, x=20, y=0, description="Alarms (poll and push) in the last 60 minutes."),
        geomap("Live positions", MAP, w=16, h=16, x=0, y=4, links=[vehicle_link("imei", "day")],
               description="Latest fix of every active vehicle, coloured by state; the tooltip shows driver, "
                           "plate and speed; the link opens the vehicle's day."),
        table("Alarms feed", ALARMS, w=8, h=16, x=16, y=4, overrides=[vehicle_override("imei", "day")],
              description="Newest alarms first in the dashboard range (max 200)."),
        table("Vehicles now", VEHICLES, w=12, h=10, x=0, y=20, overrides=[vehicle_override()],
              description="Every active vehicle's state, worst first (how long in that state: Idling now and "
                          "Vehicle day; computing it for every vehicle costs a history read per vehicle)."),
        table("Silent devices", SILENT, w=12, h=10, x=12, y=20, overrides=[vehicle_override()],
              description="Silent 8 / 12 / 24 / 36 h buckets (thresholds in tracksolid.settings)."),
        table("Idling now", IDLE_NOW, w=12, h=8, x=0, y=30, overrides=[vehicle_override()],
              description="Vehicles idling now (engine on, not moving), longest first; cost so far from settings."),
        table("Open fleet alerts", OPEN_ALERTS, w=12, h=8, x=12, y=30, overrides=[vehicle_override()],
              description="Open alert episodes of the fleet_alerts DAG (silent, not moved, idling, SLA breach)."),
    ]
    return out


def build() -> dict:
    return dashboard(UID_NOC, "NOC live", description=__doc__.split("\n")[0], panels=panels(),
                     variables=[city_variable()], refresh="30s", time_from="now-6h", tags=("noc",))
