"""Daily operations (refresh 1 min): freshness banner, today at a glance, vehicles not moved today, idling now,
the per-vehicle roll-up, driver leaderboard, km trend, alarm frequency, idle cost, utilisation heatmap and the
dispatch SLA row. "Today" panels read the live C2 views for the local (Africa/Nairobi) day; trend panels the
daily views over the dashboard range."""

from __future__ import annotations

from fleet_grafana.panels import (
    CITY_FILTER,
    UID_DAILY,
    barchart,
    city_variable,
    dashboard,
    geomap,
    heatmap,
    row,
    stat,
    table,
    timeseries,
    vehicle_link,
    vehicle_override,
)

TODAY = "day = tracksolid.local_day(now())"
IN_RANGE = "day BETWEEN tracksolid.local_day($__timeFrom()) AND tracksolid.local_day($__timeTo())"
DAY_TIME = "tracksolid.local_day_start(day) AS \"time\""

NEWEST_FIX = """
SELECT min(age_s) AS seconds FROM tracksolid.v_vehicle_state_now WHERE """ + CITY_FILTER

ENDPOINT_FRESHNESS = """
SELECT max(freshness_s) AS seconds FROM tracksolid.v_endpoint_health"""

PUSH_FRESHNESS = """
SELECT min(seconds_since_last) AS seconds FROM tracksolid.v_push_inbox_lag"""


#: utilisation_pct is the mean over a city's vehicles: weight by vehicles for the selected cities together.
FLEET_UTILISATION = "round((sum(utilisation_pct * vehicles) / nullif(sum(vehicles), 0))::numeric, 1)"


def _today(expr: str, alias: str) -> str:
    """A today-at-a-glance figure from the per-city roll-up (one pass over v_fleet_today for all of them)."""
    return f"SELECT {expr} AS {alias}\nFROM tracksolid.v_fleet_today_by_city\nWHERE {CITY_FILTER}"


NOT_MOVED = """
SELECT vehicle, imei, plate, driver_name, city, state, last_seen_at, last_trip_end_at, hours_since_last_trip,
       to_char(day, 'YYYY-MM-DD') AS day
FROM tracksolid.v_vehicles_not_moved_today
WHERE """ + CITY_FILTER + """
ORDER BY hours_since_last_trip DESC NULLS FIRST"""

IDLE_NOW = """
SELECT vehicle, imei, plate, driver_name, city, idle_since, idle_s, round(idle_cost_so_far::numeric, 0) AS idle_cost,
       excessive
FROM tracksolid.v_currently_idle
WHERE """ + CITY_FILTER + """
ORDER BY idle_s DESC"""

ROLL_UP = """
SELECT vehicle, imei, plate, driver_name, city, state, round(km::numeric, 1) AS km, trips, driving_s, idle_s,
       round(utilisation_pct::numeric, 1) AS utilisation_pct, round(idle_cost::numeric, 0) AS idle_cost, alarms,
       aggression_events, first_moved_at, last_seen_at, to_char(day, 'YYYY-MM-DD') AS day
FROM tracksolid.v_fleet_today
WHERE """ + CITY_FILTER + """
ORDER BY km DESC, vehicle"""

DRIVERS = """
SELECT driver_name, unassigned, city, vehicles, round(km::numeric, 1) AS km, trips, driving_s, idle_s, alarms,
       aggression_events, round(aggression_index::numeric, 2) AS aggression_index,
       round(alarms_per_100km::numeric, 2) AS alarms_per_100km
FROM tracksolid.v_driver_aggregates_daily
WHERE """ + TODAY + " AND " + CITY_FILTER + """
ORDER BY aggression_index DESC NULLS LAST, km DESC"""

IDLE_COST = """
SELECT vehicle, round(idle_cost::numeric, 0) AS idle_cost
FROM tracksolid.v_utilisation_daily
WHERE """ + TODAY + " AND idle_cost > 0 AND " + CITY_FILTER + """
ORDER BY idle_cost DESC
LIMIT 15"""

KM_TREND = f"""
SELECT {DAY_TIME}, coalesce(city, 'unassigned') AS metric, sum(km) AS km
FROM tracksolid.v_fleet_km_daily
WHERE {IN_RANGE} AND {CITY_FILTER}
GROUP BY 1, 2
ORDER BY 1"""

ALARM_FREQUENCY = f"""
SELECT {DAY_TIME}, alarm_class AS metric, sum(alarms) AS alarms
FROM tracksolid.v_alarms_daily
WHERE {IN_RANGE} AND {CITY_FILTER}
GROUP BY 1, 2
ORDER BY 1"""

IDLE_COST_TREND = f"""
SELECT {DAY_TIME}, coalesce(city, 'unassigned') AS metric, sum(idle_cost) AS idle_cost
FROM tracksolid.v_utilisation_daily
WHERE {IN_RANGE} AND {CITY_FILTER}
GROUP BY 1, 2
ORDER BY 1"""

UTILISATION = f"""
SELECT {DAY_TIME}, vehicle AS metric, utilisation_pct
FROM tracksolid.v_utilisation_daily
WHERE {IN_RANGE} AND {CITY_FILTER}
ORDER BY 1"""

SLA_COUNT = """
SELECT count(*) {filter} AS tickets FROM tracksolid.v_sla_inflight WHERE """ + CITY_FILTER

SLA_TABLE = """
SELECT ticket_ref, customer, city, vehicle, imei, driver_name, sla_status, status, dispatch_status, opened_at,
       due_at, elapsed_min, remaining_min, round(sla_used_pct::numeric, 0) AS sla_used_pct
FROM tracksolid.v_sla_inflight
WHERE """ + CITY_FILTER + """
ORDER BY remaining_min NULLS LAST"""

SLA_COMPLIANCE = f"""
SELECT round(100.0 * sum(within_sla) / nullif(sum(tickets_closed), 0), 1) AS pct
FROM tracksolid.v_sla_compliance_daily
WHERE {IN_RANGE} AND {CITY_FILTER}"""

SLA_TREND = f"""
SELECT {DAY_TIME}, city AS metric, round(compliance_pct::numeric, 1) AS compliance_pct
FROM tracksolid.v_sla_compliance_daily
WHERE {IN_RANGE} AND {CITY_FILTER}
ORDER BY 1"""

DISPATCH_MAP = """
SELECT ticket_ref, vehicle, imei, driver_name, plate, state, dispatch_status, customer, due_at,
       round(distance_to_site_km::numeric, 1) AS distance_to_site_km, latitude, longitude
FROM tracksolid.v_active_dispatch_map
WHERE latitude IS NOT NULL AND """ + CITY_FILTER


def panels() -> list[dict]:
    k = {"h": 3, "y": 0}
    g = {"w": 4, "h": 4, "y": 3}
    return [
        stat("Newest fix", NEWEST_FIX, unit="s", steps=[(None, "green"), (120, "orange"), (600, "red")],
             w=8, x=0, description="Age of the newest fix of any vehicle: the live feed is flowing.", **k),
        stat("Oldest API endpoint success", ENDPOINT_FRESHNESS, unit="s",
             steps=[(None, "green"), (1800, "orange"), (3600, "red")], w=8, x=8,
             description="The endpoint whose last successful call is oldest (v_endpoint_health).", **k),
        stat("Last push received", PUSH_FRESHNESS, unit="s",
             steps=[(None, "green"), (300, "orange"), (1800, "red")], w=8, x=16,
             description="Time since the push receiver last stored a request (v_push_inbox_lag).", **k),
        stat("Vehicles moved today", _today("coalesce(sum(moved_today), 0)", "vehicles"), unit="none",
             steps=[(None, "red"), (1, "orange"), (10, "green")], x=0, **g,
             description="Active vehicles with a moving fix or a trip since local midnight."),
        stat("Fleet km today", _today("coalesce(sum(km), 0)", "km"), unit="lengthkm", decimals=0,
             steps=[(None, "orange"), (100, "green")], x=4, **g, description="Trips plus today's trip in progress."),
        stat("Driving today", _today("coalesce(sum(driving_s), 0)", "seconds"), unit="s",
             steps=[(None, "orange"), (3600, "green")], x=8, **g, description="Sum of driving time."),
        stat("Average utilisation", _today(FLEET_UTILISATION, "pct"), unit="percent",
             steps=[(None, "red"), (30, "orange"), (60, "green")], x=12, **g,
             description="Driving time as a share of the shift (shift_hours setting), fleet average."),
        stat("Idle cost today", _today("round(coalesce(sum(idle_cost), 0)::numeric, 0)", "cost"),
             unit="short", steps=[(None, "green"), (1000, "orange"), (5000, "red")], x=16, **g,
             description="Idle hours x idle_litres_per_hour x fuel_price_per_litre (settings)."),
        stat("Alarms today", _today("coalesce(sum(alarms), 0)", "alarms"), unit="none",
             steps=[(None, "green"), (20, "orange"), (100, "red")], x=20, **g, description="Alarms since midnight."),
        table("Not moved today", NOT_MOVED, w=12, h=8, x=0, y=7, overrides=[vehicle_override("imei", "day")],
              description="Active vehicles without a moving fix or a trip since local midnight."),
        table("Currently idle", IDLE_NOW, w=12, h=8, x=12, y=7, overrides=[vehicle_override()],
              description="Vehicles idling now, longest first; 'excessive' past the excessive_idle_s setting."),
        table("Per-vehicle today", ROLL_UP, w=24, h=10, x=0, y=15, overrides=[vehicle_override("imei", "day")],
              description="Today's roll-up per vehicle (v_fleet_today)."),
        table("Driver leaderboard", DRIVERS, w=14, h=9, x=0, y=25,
              description="Drivers today, most aggressive first (events per 100 km)."),
        barchart("Idle cost by vehicle today", IDLE_COST, x_field="vehicle", unit="short", w=10, h=9, x=14, y=25,
                 description="The 15 vehicles with the highest idle cost today."),
        row("Trends", 34),
        timeseries("Fleet km per day", KM_TREND, bars=True, stack=True, unit="lengthkm", w=12, h=8, x=0, y=35,
                   description="km per local day by city (v_fleet_km_daily)."),
        timeseries("Alarm frequency", ALARM_FREQUENCY, bars=True, stack=True, unit="none", w=12, h=8, x=12,
                   y=35, description="Alarms per local day by alarm class (v_alarms_daily)."),
        timeseries("Idle cost per day", IDLE_COST_TREND, bars=True, stack=True, unit="short", w=12, h=8, x=0,
                   y=43, description="Idle cost per local day by city (v_utilisation_daily)."),
        heatmap("Utilisation by vehicle and day", UTILISATION, unit="percent", w=12, h=8, x=12, y=43,
                description="Driving time as % of the shift, one row per vehicle (v_utilisation_daily)."),
        row("Dispatch SLA", 51),
        stat("Open tickets", SLA_COUNT.format(filter=""), unit="none", steps=[(None, "green"), (20, "orange")],
             w=4, h=4, x=0, y=52, description="Tickets not closed yet."),
        stat("SLA at risk", SLA_COUNT.format(filter="FILTER (WHERE sla_status = 'at_risk')"), unit="none",
             steps=[(None, "green"), (1, "orange")], w=4, h=4, x=4, y=52,
             description="Open tickets past sla_at_risk_pct of their SLA."),
        stat("SLA breached", SLA_COUNT.format(filter="FILTER (WHERE sla_status = 'breached')"), unit="none",
             steps=[(None, "green"), (1, "red")], w=4, h=4, x=8, y=52, description="Open tickets past due."),
        stat("SLA compliance (range)", SLA_COMPLIANCE, unit="percent",
             steps=[(None, "red"), (80, "orange"), (95, "green")], w=12, h=4, x=12, y=52,
             description="Tickets closed within their SLA, of those closed in the dashboard range."),
        geomap("Active dispatches", DISPATCH_MAP, colour_field="state", w=12, h=12, x=12, y=56,
               links=[vehicle_link()], description="Dispatched vehicles on the way to their sites."),
        table("Tickets in flight", SLA_TABLE, w=12, h=8, x=0, y=56, overrides=[vehicle_override()],
              description="Open tickets, least time left first (v_sla_inflight)."),
        timeseries("SLA compliance per day", SLA_TREND, unit="percent", w=12, h=8, x=0, y=64, min_=0, max_=100,
                   description="Share of tickets closed within their SLA, by closing day and city."),
    ]


def build() -> dict:
    return dashboard(UID_DAILY, "Daily operations", description=__doc__.split("\n")[0], panels=panels(),
                     variables=[city_variable()], refresh="1m", time_from="now-14d", tags=("operations",))
