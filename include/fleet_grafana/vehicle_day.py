"""Vehicle day: one vehicle's local (Africa/Nairobi) day — track on a map with its alarms, state timeline,
speed, trips, stops and alarms. Variables ``vehicle`` (imei) and ``day`` (YYYY-MM-DD); every vehicle name in
the other dashboards links here with both (TeslaMate's drive-details pattern)."""

from __future__ import annotations

from fleet_grafana.panels import (
    DWH,
    UID_VEHICLE,
    city_variable,
    dashboard,
    geomap,
    query_variable,
    stat,
    state_timeline,
    table,
    timeseries,
)

#: The selected local day as a UTC range (reads the day's rows through the (imei, time) primary keys).
DAY_START = "(('$day'::date)::timestamp AT TIME ZONE 'Africa/Nairobi')"
DAY_END = "((('$day'::date) + 1)::timestamp AT TIME ZONE 'Africa/Nairobi')"


def in_day(column: str) -> str:
    return f"{column} >= {DAY_START} AND {column} < {DAY_END}"


VEHICLES = """
SELECT coalesce(nullif(device_name, ''), nullif(license_plate_no, ''), imei) AS __text, imei AS __value
FROM tracksolid.devices
WHERE coalesce(assigned_city, 'unassigned') IN ($city)
ORDER BY 1"""

DAYS = """
SELECT to_char((now() AT TIME ZONE 'Africa/Nairobi')::date - n, 'YYYY-MM-DD') AS day
FROM generate_series(0, 59) AS n"""

TRACK = f"""
SELECT gps_time AS "time", lat AS latitude, lng AS longitude, speed_kmh, source
FROM tracksolid.position_history
WHERE imei = '$vehicle' AND {in_day('gps_time')}
ORDER BY gps_time"""

ALARMS_ON_TRACK = f"""
SELECT alarm_time AS "time", lat AS latitude, lng AS longitude, alarm_name, speed_kmh
FROM tracksolid.alarms
WHERE imei = '$vehicle' AND {in_day('alarm_time')} AND lat IS NOT NULL
ORDER BY alarm_time"""

SEGMENTS = """
SELECT started_at AS "time", state, round(distance_km::numeric, 2) AS km
FROM silver.segments
WHERE imei = '$vehicle' AND local_day = '$day'::date
UNION ALL
SELECT max(ended_at), NULL, NULL FROM silver.segments WHERE imei = '$vehicle' AND local_day = '$day'::date
HAVING count(*) > 0
ORDER BY 1"""

SPEED = f"""
SELECT gps_time AS "time", speed_kmh AS "speed"
FROM tracksolid.position_history
WHERE imei = '$vehicle' AND {in_day('gps_time')}
ORDER BY gps_time"""

TRIPS = f"""
SELECT start_time AS "start", end_time AS "end", round(distance_km, 2) AS km,
       run_time_s AS duration_s, round(avg_speed_kmh, 1) AS avg_kmh,
       round(start_lat::numeric, 5) AS start_lat, round(start_lng::numeric, 5) AS start_lng,
       round(end_lat::numeric, 5) AS end_lat, round(end_lng::numeric, 5) AS end_lng
FROM tracksolid.trips
WHERE imei = '$vehicle' AND {in_day('start_time')}
ORDER BY start_time"""

STOPS = f"""
SELECT start_time AS "start", end_time AS "end",
       CASE acc_type WHEN 'off' THEN 'parked' ELSE 'idling' END AS kind,
       duration_s, address, round(lat::numeric, 5) AS latitude, round(lng::numeric, 5) AS longitude
FROM tracksolid.parking_events
WHERE imei = '$vehicle' AND {in_day('start_time')}
ORDER BY start_time"""

ALARMS = f"""
SELECT alarm_time AS "time", alarm_type, alarm_name, speed_kmh, source,
       round(lat::numeric, 5) AS latitude, round(lng::numeric, 5) AS longitude
FROM tracksolid.alarms
WHERE imei = '$vehicle' AND {in_day('alarm_time')}
ORDER BY alarm_time DESC"""

KM = f"""
SELECT coalesce(sum(distance_km), 0) AS km
FROM tracksolid.trips
WHERE imei = '$vehicle' AND {in_day('start_time')}"""

DRIVING = f"""
SELECT coalesce(sum(run_time_s), 0) AS driving_s
FROM tracksolid.trips
WHERE imei = '$vehicle' AND {in_day('start_time')}"""

IDLING = f"""
SELECT coalesce(sum(duration_s), 0) AS idle_s
FROM tracksolid.parking_events
WHERE imei = '$vehicle' AND acc_type = 'on' AND {in_day('start_time')}"""

ALARM_COUNT = f"""
SELECT count(*) AS alarms
FROM tracksolid.alarms
WHERE imei = '$vehicle' AND {in_day('alarm_time')}"""


def build() -> dict:
    track = geomap("Track and alarms", [TRACK, ALARMS_ON_TRACK], layer="route", colour_field=None,
                   w=14, h=16, x=0, y=4, zoom=12,
                   description="The day's fixes as a route (position_history) with the day's alarms on it.")
    route, = track["options"]["layers"]
    route["filterData"] = {"id": "byRefId", "options": "A"}
    route["name"] = "Track"
    track["options"]["layers"].append({
        "type": "markers", "name": "Alarms", "tooltip": True, "filterData": {"id": "byRefId", "options": "B"},
        "location": {"mode": "coords", "latitude": "latitude", "longitude": "longitude"},
        "config": {"showLegend": True, "style": {
            "color": {"fixed": "red"}, "size": {"fixed": 8},
            "symbol": {"mode": "fixed", "fixed": "img/icons/marker/triangle.svg"}}},
    })
    panels = [
        stat("Distance", KM, unit="lengthkm", steps=[(None, "orange"), (1, "green")], decimals=1,
             w=6, h=4, x=0, y=0, description="Sum of the day's trips (track.mileage)."),
        stat("Driving time", DRIVING, unit="s", steps=[(None, "orange"), (600, "green")],
             w=6, h=4, x=6, y=0, description="Sum of the day's trip run times."),
        stat("Idling", IDLING, unit="s", steps=[(None, "green"), (1800, "orange"), (3600, "red")],
             w=6, h=4, x=12, y=0, description="Engine on while stationary (report.parking, ACC on)."),
        stat("Alarms", ALARM_COUNT, unit="none", steps=[(None, "green"), (1, "orange"), (10, "red")],
             w=6, h=4, x=18, y=0, description="Alarms of the day (poll and push)."),
        track,
        state_timeline("Segments", SEGMENTS, ds=DWH, w=10, h=6, x=14, y=4,
                       description="Moving / idle / parked / offline segments (silver, ALGORITHMS.md); built by "
                                   "the nightly warehouse refresh, so today's appear tomorrow."),
        timeseries("Speed", SPEED, unit="velocitykmh", w=10, h=10, x=14, y=10,
                   description="Speed of every fix of the day."),
        table("Trips", TRIPS, w=12, h=9, x=0, y=20, description="The day's trips (track.mileage)."),
        table("Stops", STOPS, w=12, h=9, x=12, y=20, description="Parking (ACC off) and idling (ACC on) spells."),
        table("Alarms of the day", ALARMS, w=24, h=8, x=0, y=29, description="Every alarm of the day."),
    ]
    variables = [
        city_variable(),
        query_variable("vehicle", "Vehicle", VEHICLES.strip()),
        query_variable("day", "Day (EAT)", DAYS.strip()),
    ]
    return dashboard(UID_VEHICLE, "Vehicle day", description=__doc__.split("\n")[0], panels=panels,
                     variables=variables, refresh="", time_from="now-24h", time_to="now", tags=("vehicle",))
