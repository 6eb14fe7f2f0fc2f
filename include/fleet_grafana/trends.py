"""Fleet trends (warehouse, gold only): weekly km, utilisation, idle cost and behaviour by city, vehicle-weeks,
driver-weeks, service due, and the silver/gold day builds that late data caused."""

from __future__ import annotations

from fleet_grafana.panels import (
    CITY_FILTER,
    DWH,
    UID_TRENDS,
    city_variable,
    dashboard,
    stat,
    table,
    timeseries,
    vehicle_override,
)

WEEKS = "week BETWEEN $__timeFrom()::date - 6 AND $__timeTo()::date"
WEEK_TIME = "(week::timestamp AT TIME ZONE 'Africa/Nairobi') AS \"time\""


def _by_city(expr: str, alias: str) -> str:
    return (f"SELECT {WEEK_TIME}, city AS metric, {expr} AS {alias}\nFROM gold.v_fleet_week_city\n"
            f"WHERE {WEEKS} AND {CITY_FILTER}\nORDER BY 1")


def _last_week(expr: str, alias: str) -> str:
    return (f"SELECT {expr} AS {alias}\nFROM gold.v_fleet_week_city\n"
            f"WHERE week = (SELECT max(week) FROM gold.v_fleet_week_city) AND {CITY_FILTER}")


VEHICLE_WEEKS = f"""
SELECT to_char(week, 'YYYY-MM-DD') AS week, vehicle, imei, plate, driver_name, city, days, round(km::numeric, 1) AS km,
       trips, round(driving_h::numeric, 1) AS driving_h, round(idle_h::numeric, 1) AS idle_h,
       round(utilisation_pct::numeric, 1) AS utilisation_pct, round(idle_cost::numeric, 0) AS idle_cost,
       alarms_total, round(aggression_index::numeric, 2) AS aggression_index
FROM gold.v_vehicle_week
WHERE {WEEKS} AND {CITY_FILTER}
ORDER BY week DESC, km DESC
LIMIT 500"""

DRIVER_WEEKS = f"""
SELECT to_char(week, 'YYYY-MM-DD') AS week, driver_name, round(km::numeric, 1) AS km,
       round(driving_h::numeric, 1) AS driving_h, harsh_acceleration, harsh_braking, sharp_turn, overspeed,
       aggression_events, round(aggression_index::numeric, 2) AS aggression_index
FROM gold.v_driver_week
WHERE {WEEKS}
ORDER BY week DESC, aggression_index DESC NULLS LAST
LIMIT 500"""

SERVICE_DUE = f"""
SELECT vehicle, imei, plate, driver_name, city, last_service_date, round(km_since_service::numeric, 0) AS
       km_since_service, round(km_to_service::numeric, 0) AS km_to_service, service_due, km_source
FROM gold.v_service_due
WHERE {CITY_FILTER}
ORDER BY km_to_service NULLS LAST"""

DAY_BUILDS = """
SELECT local_day, built_at,
       round(extract(epoch FROM built_at - ((local_day + 1)::timestamp AT TIME ZONE 'Africa/Nairobi')) / 3600, 1)
           AS hours_after_day_end,
       built_at > ((local_day + 2)::timestamp AT TIME ZONE 'Africa/Nairobi') AS late_rebuild,
       devices, fixes_kept, segments, trips, duration_ms
FROM silver.day_builds
WHERE local_day BETWEEN $__timeFrom()::date AND $__timeTo()::date
ORDER BY local_day DESC"""

CITIES = "SELECT DISTINCT city FROM gold.v_fleet_week_city ORDER BY 1"


def panels() -> list[dict]:
    s = {"w": 6, "h": 4, "y": 0, "ds": DWH}
    return [
        stat("Fleet km, latest week", _last_week("round(coalesce(sum(km), 0)::numeric, 0)", "km"),
             unit="lengthkm", steps=[(None, "orange"), (1000, "green")], x=0, **s,
             description="Sum of gold km in the latest week with data."),
        stat("Utilisation, latest week", _last_week("round(avg(utilisation_pct)::numeric, 1)", "pct"),
             unit="percent", steps=[(None, "red"), (30, "orange"), (60, "green")], x=6, **s,
             description="Mean over cities of the vehicle-day utilisation."),
        stat("Idle cost, latest week", _last_week("round(coalesce(sum(idle_cost), 0)::numeric, 0)", "cost"),
             unit="short", steps=[(None, "green"), (10000, "orange"), (50000, "red")], x=12, **s,
             description="Idle hours x litres/hour x fuel price, summed over cities."),
        stat("Aggression index, latest week",
             _last_week("round((100.0 * sum(aggression_events) / nullif(sum(km), 0))::numeric, 2)", "index"),
             unit="none", steps=[(None, "green"), (2, "orange"), (5, "red")], x=18, **s,
             description="Harsh acceleration / braking / sharp turn / overspeed events per 100 km."),
        timeseries("Weekly km by city", _by_city("km", "km"), bars=True, stack=True, unit="lengthkm", ds=DWH,
                   w=12, h=8, x=0, y=4, description="gold.v_fleet_week_city."),
        timeseries("Weekly utilisation by city", _by_city("utilisation_pct", "utilisation_pct"), unit="percent",
                   ds=DWH, w=12, h=8, x=12, y=4, description="Mean vehicle-day utilisation per week."),
        timeseries("Weekly idle cost by city", _by_city("idle_cost", "idle_cost"), bars=True, stack=True,
                   unit="short", ds=DWH, w=12, h=8, x=0, y=12, description="Idle cost per week."),
        timeseries("Weekly aggression index by city", _by_city("aggression_index", "aggression_index"),
                   unit="none", ds=DWH, w=12, h=8, x=12, y=12, description="Behaviour events per 100 km."),
        table("Vehicle weeks", VEHICLE_WEEKS, ds=DWH, w=24, h=10, x=0, y=20,
              overrides=[vehicle_override("imei", "week")], description="gold.v_vehicle_week; the vehicle link "
              "opens the week's Monday in Vehicle day."),
        table("Driver weeks", DRIVER_WEEKS, ds=DWH, w=12, h=9, x=0, y=30, description="gold.v_driver_week."),
        table("Service due", SERVICE_DUE, ds=DWH, w=12, h=9, x=12, y=30, overrides=[vehicle_override()],
              description="Distance since the last workshop service against service_interval_km."),
        table("Day builds and late-data rebuilds", DAY_BUILDS, ds=DWH, w=24, h=8, x=0, y=39,
              description="When each local day was last built; 'late_rebuild' when it was rebuilt more than a "
                          "day after it ended (late data arrived)."),
    ]


def build() -> dict:
    return dashboard(UID_TRENDS, "Fleet trends", description=__doc__.split("\n")[0], panels=panels(),
                     variables=[city_variable(DWH, CITIES)], refresh="", time_from="now-90d", tags=("trends",))
