"""Fetch one unit of work through the TracksolidHook and load it idempotently.

Each ``load_*`` function is what one mapped task instance does: it calls the API for one target or one
target × batch over the run's window, and upserts the rows with :func:`fleet_db.loaders.copy_upsert`
on the keys of SPEC §3, in one transaction per batch. It returns a small dict of counts (never rows) for
XCom. Re-running any of them for the same window changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from fleet_db.loaders import LoadResult, copy_upsert, transaction, upsert_in_transaction
from fleet_db.settings import read_sql
from fleet_ingest.plausible import keep_plausible
from fleet_ingest.windows import Window

log = logging.getLogger(__name__)

DEVICE_LIST_COLUMNS = (
    "imei", "account", "device_name", "mc_type", "mc_type_use_scope", "sim", "expiration", "activation_time",
    "remark", "vehicle_name", "vehicle_icon", "vehicle_number", "vehicle_models", "car_frame", "driver_name",
    "driver_phone", "enabled_flag", "engine_number", "device_group_id", "device_group", "raw",
)
#: Every API field of list + detail, plus our bookkeeping. ``assigned_city`` is ours: never loaded.
DEVICE_COLUMNS = (
    *DEVICE_LIST_COLUMNS, "customer_name", "iccid", "imsi", "import_time", "license_plate_no", "vin",
    "vehicle_brand", "fuel_100km", "status", "current_mileage_km", "is_active", "is_registered", "last_synced_at",
)
LIVE_COLUMNS = (
    "imei", "gps_time", "hb_time", "lat", "lng", "speed_kmh", "direction", "acc_status", "online", "pos_type",
    "gps_num", "gps_signal", "elect_quantity", "power_value", "battery_power_val", "current_mileage_km",
    "temperature", "tracker_oil", "loc_desc", "source", "raw",
)
POLL_HISTORY_COLUMNS = ("imei", "gps_time", "lat", "lng", "speed_kmh", "direction", "acc_status", "pos_type",
                        "source", "raw")
TRACK_COLUMNS = ("imei", "gps_time", "lat", "lng", "speed_kmh", "direction", "acc_status", "pos_type",
                 "satellite", "gps_mode", "odometer_km", "altitude", "source", "raw")
TRIP_COLUMNS = ("imei", "start_time", "end_time", "start_lat", "start_lng", "end_lat", "end_lng", "distance_km",
                "avg_speed_kmh", "run_time_s", "source", "raw")
PARKING_COLUMNS = ("imei", "start_time", "acc_type", "end_time", "duration_s", "stop_s", "lat", "lng", "address",
                   "device_name", "raw")
ALARM_COLUMNS = ("imei", "alarm_type", "alarm_time", "alarm_name", "device_name", "positioning_time", "lat", "lng",
                 "speed_kmh", "geoid", "source", "raw")
OBD_COLUMNS = ("imei", "reading_time", "odometer_km", "fuel_l", "fuel_pct", "rpm", "coolant_temp_c", "battery_v",
               "speed_kmh", "vin", "source", "raw")

HISTORY_KEYS = ("imei", "gps_time")


def _counts(*results: LoadResult, **extra) -> dict:
    """XCom-sized summary: per table received / inserted / updated, plus any extra scalars."""
    tables: dict[str, dict[str, int]] = {}
    for r in results:
        t = tables.setdefault(r.table, {"received": 0, "inserted": 0, "updated": 0})
        t["received"] += r.received
        t["inserted"] += r.inserted
        t["updated"] += r.updated
    return {"tables": tables, **extra}


def _in_batch(rows: Iterable[dict], imeis: Sequence[str]) -> list[dict]:
    """Rows of the IMEIs asked for (a server answering for other devices must not widen a batch)."""
    wanted = set(imeis)
    kept = [r for r in rows if r["imei"] in wanted]
    return kept


# --- devices ---------------------------------------------------------------------------------------

def register_target_devices(hook, conn, target: str) -> dict:
    """device.list of one target: new IMEIs are inserted at once (so every other DAG sees them), devices
    returned are active, devices of the target no longer returned are marked inactive (never deleted).
    Returns the IMEIs listed (the plan of the detail batches)."""
    listed = hook.list_devices(target)
    rows = [{**row, "raw": {"list": row.get("raw"), "detail": None}} for row in listed]
    imeis = [row["imei"] for row in listed]
    with transaction(conn) as cur:
        inserted = upsert_in_transaction(cur, "tracksolid.devices", DEVICE_LIST_COLUMNS, rows, ["imei"], "nothing")
        cur.execute(read_sql("ingest", "mark_devices_seen.sql"), {"target": target, "imeis": imeis})
        reactivated, deactivated = cur.fetchone()
    log.info("target %s: %d devices listed, %d new, %d reactivated, %d marked inactive", target, len(imeis),
             inserted.inserted, reactivated, deactivated)
    return {**_counts(inserted), "target": target, "imeis": imeis, "new": inserted.inserted,
            "reactivated": int(reactivated), "deactivated": int(deactivated)}


def load_device_details(hook, conn, batch: dict, window: Window | None = None) -> dict:
    """device.detail for each IMEI of the batch, merged with its device.list row; every field upserted."""
    from tracksolid_hook.parsers import merge_device

    list_rows = {row["imei"]: row for row in hook.list_devices(batch["target"])}
    synced_at = datetime.now(UTC)
    rows = []
    for imei in batch["imeis"]:
        list_row = list_rows.get(imei)
        if list_row is None:  # gone from the list since planning: the list task marks it inactive
            log.info("device %s no longer listed under %s; skipped", imei, batch["target"])
            continue
        merged = merge_device(list_row, hook.device_detail(imei))
        merged.update(is_active=True, is_registered=True, last_synced_at=synced_at)
        rows.append(merged)
    result = copy_upsert(conn, "tracksolid.devices", DEVICE_COLUMNS, rows, ["imei"], "update")
    return _counts(result)


# --- positions -------------------------------------------------------------------------------------

def _history_from_live(rows: Iterable[dict]) -> list[dict]:
    return [r for r in rows if r.get("lat") is not None and r.get("lng") is not None]


def _load_live(conn, rows: list[dict]) -> tuple[LoadResult, LoadResult]:
    """live_positions (only a newer fix replaces) and position_history (source poll), together. Rows with an
    implausible time are kept aside (they would freeze the live position)."""
    rows = keep_plausible(conn, rows, table="live_positions", column="gps_time", source="poll")
    with transaction(conn) as cur:
        live = upsert_in_transaction(cur, "tracksolid.live_positions", LIVE_COLUMNS, rows, ["imei"],
                                     "update_if_newer:gps_time")
        history = upsert_in_transaction(cur, "tracksolid.position_history", POLL_HISTORY_COLUMNS,
                                        _history_from_live(rows), HISTORY_KEYS, "nothing")
    return live, history


def poll_target_positions(hook, conn, target: str, expected_imeis: Sequence[str]) -> dict:
    """location.list of one target; returns the expected IMEIs the list omitted (fetched next with
    location.get — devices can be silently missing from the list)."""
    rows = hook.location_list(target)
    wanted = set(expected_imeis)
    rows = [r for r in rows if r["imei"] in wanted]
    live, history = _load_live(conn, rows)
    returned = {r["imei"] for r in rows}
    missing = [imei for imei in expected_imeis if imei not in returned]
    log.info("target %s: %d positions listed, %d expected devices omitted", target, len(rows), len(missing))
    return {**_counts(live, history), "target": target, "missing": missing}


def load_missing_positions(hook, conn, batch: dict, window: Window | None = None) -> dict:
    """location.get for a batch of IMEIs location.list omitted."""
    rows = _in_batch(hook.location_get(batch["imeis"]), batch["imeis"])
    live, history = _load_live(conn, rows)
    return _counts(live, history)


def load_track_list(hook, conn, batch: dict, window: Window) -> dict:
    """track.list for each IMEI of the batch (one IMEI per call; the hook splits windows over 7 days),
    from ``fetch_start`` (the 5-minute overlap) to ``end``; points already stored are kept as they are."""
    rows: list[dict] = []
    for imei in batch["imeis"]:
        rows += hook.track_list(imei, window.fetch_start, window.end)
    rows = keep_plausible(conn, _in_batch(rows, batch["imeis"]), table="position_history", column="gps_time",
                          source="track_list")
    result = copy_upsert(conn, "tracksolid.position_history", TRACK_COLUMNS, rows, HISTORY_KEYS, "nothing")
    return _counts(result)


# --- reports ---------------------------------------------------------------------------------------

def load_trips(hook, conn, batch: dict, window: Window) -> dict:
    """track.mileage for the batch (paged; distance metres → km in the parser)."""
    rows = _in_batch(hook.track_mileage(batch["imeis"], window.fetch_start, window.end), batch["imeis"])
    rows = keep_plausible(conn, rows, table="trips", column="start_time", source="trips")
    return _counts(copy_upsert(conn, "tracksolid.trips", TRIP_COLUMNS, rows, ["imei", "start_time"], "update"))


def load_parking(hook, conn, batch: dict, window: Window) -> dict:
    """report.parking for the target's batch, acc_type off (parking) and on (idling), paged."""
    rows: list[dict] = []
    for acc_type in ("off", "on"):
        rows += hook.parking(batch["target"], batch["imeis"], window.fetch_start, window.end, acc_type)
    rows = keep_plausible(conn, _in_batch(rows, batch["imeis"]), table="parking_events", column="start_time",
                          source="parking")
    result = copy_upsert(conn, "tracksolid.parking_events", PARKING_COLUMNS, rows,
                         ["imei", "start_time", "acc_type"], "update")
    return _counts(result)


def load_alarms(hook, conn, batch: dict, window: Window) -> dict:
    """alarm.list for the batch (paged; windows over a month split by the hook). An alarm already stored
    (e.g. from push) is kept: alarms are events, the first copy wins."""
    rows = _in_batch(hook.alarm_list(batch["imeis"], window.fetch_start, window.end), batch["imeis"])
    rows = keep_plausible(conn, rows, table="alarms", column="alarm_time", source="alarms")
    result = copy_upsert(conn, "tracksolid.alarms", ALARM_COLUMNS, rows, ["imei", "alarm_type", "alarm_time"],
                         "nothing")
    return _counts(result)


def load_obd(hook, conn, batch: dict, window: Window) -> dict:
    """obd.list for the target's batch (paged). A reading already stored (e.g. from push) is kept."""
    rows = _in_batch(hook.obd_list(batch["target"], batch["imeis"], window.fetch_start, window.end),
                     batch["imeis"])
    rows = keep_plausible(conn, rows, table="obd_readings", column="reading_time", source="obd")
    result = copy_upsert(conn, "tracksolid.obd_readings", OBD_COLUMNS, rows, ["imei", "reading_time"], "nothing")
    return _counts(result)


#: endpoint name → (batch loader, table it fills)
BATCH_LOADERS = {
    "device_details": (load_device_details, "devices"),
    "missing_positions": (load_missing_positions, "live_positions"),
    "track_list": (load_track_list, "position_history"),
    "trips": (load_trips, "trips"),
    "parking": (load_parking, "parking_events"),
    "alarms": (load_alarms, "alarms"),
    "obd": (load_obd, "obd_readings"),
}
