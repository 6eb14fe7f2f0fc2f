"""The bronze tables: where each comes from, its key, and how it is extracted.

* **snapshot** tables are small masters: every run copies the whole table and the load replaces bronze whole.
* **incremental** tables are extracted by watermark on their arrival-order column, half-open
  ``[watermark, high-water mark)``, and upserted on the live key.

``ingested_at`` is set by the ingestion loaders on every insert *and* update, so a row that arrives late
(old event time) or is corrected later is caught by the next run. Two tables have no ``ingested_at``:
``ingestion_log`` is append-only (its ``logged_at`` defaults to ``now()``) and ``dispatch_log`` rows change
(its ``updated_at`` is maintained by a trigger). The push receiver's own tables (``fault_codes``,
``lbs_readings``, ``push_trip_reports``, ``device_attribute_reports``) are incremental on ``ingested_at`` too.
"""

from __future__ import annotations

from dataclasses import dataclass

SNAPSHOT = "snapshot"
INCREMENTAL = "incremental"


@dataclass(frozen=True)
class BronzeTable:
    """One bronze table and the live table it copies."""

    name: str  # bronze.<name>; also the key in extract_watermarks / extract_runs and in object keys
    source: str  # schema-qualified live table
    key: tuple[str, ...]  # the live key = the bronze conflict target
    mode: str  # SNAPSHOT | INCREMENTAL
    watermark_column: str | None = None  # INCREMENTAL only
    reference: bool = False  # not one of SPEC's 16 data tables: copied because silver needs it
    push_only: bool = False  # not one of SPEC's 16 data tables: written by the push receiver (live 0030)
    feeds_silver: bool = False  # loads take the silver input lock (see fleet_dwh.bronze)

    @property
    def qualified(self) -> str:
        return f"bronze.{self.name}"

    @property
    def asset_name(self) -> str:
        return f"bronze_{self.name}"

    @property
    def asset_uri(self) -> str:
        return f"fleet-dwh://tracksolid_dwh/bronze/{self.name}"


def _inc(name, key, column="ingested_at", source=None, feeds_silver=False, push_only=False):
    return BronzeTable(name, source or f"tracksolid.{name}", key, INCREMENTAL, column, feeds_silver=feeds_silver,
                       push_only=push_only)


TABLES: tuple[BronzeTable, ...] = (
    BronzeTable("devices", "tracksolid.devices", ("imei",), SNAPSHOT, feeds_silver=True),
    BronzeTable("live_positions", "tracksolid.live_positions", ("imei",), SNAPSHOT),
    _inc("position_history", ("imei", "gps_time"), feeds_silver=True),
    _inc("trips", ("imei", "start_time")),
    _inc("parking_events", ("imei", "start_time", "acc_type")),
    _inc("alarms", ("imei", "alarm_type", "alarm_time"), feeds_silver=True),
    _inc("obd_readings", ("imei", "reading_time")),
    _inc("device_events", ("imei", "event_time", "event_type")),
    _inc("heartbeats", ("imei", "hb_time")),
    _inc("fuel_readings", ("imei", "reading_time")),
    _inc("temperature_readings", ("imei", "reading_time")),
    _inc("ingestion_log", ("id",), column="logged_at"),
    _inc("dispatch_log", ("id",), column="updated_at"),
    BronzeTable("ops_tickets", "ops.tickets", ("id",), SNAPSHOT),
    BronzeTable("ops_service_log", "ops.service_log", ("id",), SNAPSHOT),
    BronzeTable("ops_odometer_readings", "ops.odometer_readings", ("id",), SNAPSHOT),
    # Items only the push receiver delivers (tracksolid_db 0030; bronze 0009).
    _inc("fault_codes", ("imei", "fault_time", "fault_code"), push_only=True),
    _inc("lbs_readings", ("imei", "reading_time"), push_only=True),
    _inc("push_trip_reports", ("imei", "start_time"), push_only=True),
    _inc("device_attribute_reports", ("imei", "attribute", "reported_at"), push_only=True),
    BronzeTable("settings", "tracksolid.settings", ("key",), SNAPSHOT, reference=True),
    BronzeTable("geofences", "tracksolid.geofences", ("id",), SNAPSHOT, reference=True),
)

BY_NAME: dict[str, BronzeTable] = {t.name: t for t in TABLES}
#: SPEC §3's 16 data tables.
SPEC_TABLES: tuple[BronzeTable, ...] = tuple(t for t in TABLES if not (t.reference or t.push_only))
#: Every table of live data: the SPEC's 16 and the push receiver's.
DATA_TABLES: tuple[BronzeTable, ...] = tuple(t for t in TABLES if not t.reference)
#: Bookkeeping columns every bronze table carries besides the source columns.
BOOKKEEPING_COLUMNS = ("_run_id", "_loaded_at")


def get_table(name: str) -> BronzeTable:
    """The registry entry of ``name``; a clear error for a name that is not a bronze table."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown bronze table {name!r}; known: {', '.join(BY_NAME)}") from None


def select_tables(names: list[str] | None) -> list[BronzeTable]:
    """The tables of one run: all of them by default, else the named ones (validated, registry order)."""
    if not names:
        return list(TABLES)
    wanted = {get_table(n).name for n in names}
    return [t for t in TABLES if t.name in wanted]
