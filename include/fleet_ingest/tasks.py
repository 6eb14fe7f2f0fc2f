"""The TaskFlow tasks and DAG settings every ``dags/tracksolid_*.py`` file composes.

Shape of an endpoint DAG::

    resolve_window ─┐
    plan_batches ───┴─> fetch_and_load.partial(endpoint=…, window=…).expand(batch=…)  (pool tracksolid_api,
                                                          one instance per target × ≤50-IMEI batch)
                        └─> record_counts (emits the table's Asset with the counts)

XComs carry windows, IMEI batches (≤ 50 IMEIs) and counts — never rows.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import Param, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from fleet_alerting import task_alerting
from fleet_ingest import endpoints, planning
from fleet_ingest.mapped import all_results
from fleet_ingest.windows import Window, WindowError, resolve_window

log = logging.getLogger(__name__)

API_CONN_ID = "tracksolid_api"
DB_CONN_ID = "tracksolid_db"
#: Shared by every mapped API task of every endpoint DAG; created by `make up`/the demo (size: see README).
API_POOL = "tracksolid_api"
OWNER = "fleet-data"
#: Longest an endpoint task may run (one API batch or a planning query; a stuck call fails and is retried).
EXECUTION_TIMEOUT = timedelta(minutes=20)


def default_args(**overrides: Any) -> dict[str, Any]:
    """Owner, retries with exponential backoff, the failure callback and timeout (``fleet_alerting``)."""
    args = {
        "owner": OWNER,
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        **task_alerting(EXECUTION_TIMEOUT),
    }
    args.update(overrides)
    return args


def window_params() -> dict[str, Param]:
    """Manual-run overrides: the window, the account targets, an IMEI subset."""
    return {
        "start": Param(None, type=["null", "string"],
                       description="Window start, ISO-8601 (UTC unless an offset is given). With 'end', "
                                   "overrides the data interval."),
        "end": Param(None, type=["null", "string"], description="Window end (exclusive), ISO-8601."),
        "targets": Param(None, type=["null", "array"], items={"type": "string"},
                         description="Account targets to ingest (default: every target of the connection)."),
        "imeis": Param(None, type=["null", "array"], items={"type": "string"},
                       description="Only these IMEIs (default: every active device of the targets)."),
    }


def api_hook():
    from tracksolid_hook import TracksolidHook

    return TracksolidHook(tracksolid_conn_id=API_CONN_ID, db_conn_id=DB_CONN_ID)


def db_connection():
    """A connection to the live database (psycopg 3 through PostgresHook)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=DB_CONN_ID).get_conn()


def _fail(exc: Exception) -> AirflowFailException:
    # Bad params / missing window: retrying cannot help, fail at once with the message.
    return AirflowFailException(str(exc))


def _targets(hook, params: dict) -> list[str]:
    try:
        return planning.resolve_targets(hook.targets, params.get("targets"))
    except planning.PlanningError as exc:
        raise _fail(exc) from exc


# --- tasks --------------------------------------------------------------------------------------------

@task(multiple_outputs=False, retries=0)
def resolve_run_window(overlap_minutes: int = 0) -> dict:
    """The run's window: the data interval, or the ``start``/``end`` params. Fails clearly without one."""
    context = get_current_context()
    try:
        window = resolve_window(context["params"], context.get("data_interval_start"),
                                context.get("data_interval_end"), overlap=timedelta(minutes=overlap_minutes))
    except WindowError as exc:
        raise _fail(exc) from exc
    log.info("window %s", window)
    return window.as_xcom()


@task
def resolve_targets() -> list[str]:
    """Account targets of the ``tracksolid_api`` connection (or the ``targets`` param subset)."""
    hook = api_hook()
    targets = _targets(hook, get_current_context()["params"])
    log.info("targets: %s", ", ".join(targets))
    return targets


@task
def plan_batches() -> list[dict]:
    """Each target's active IMEIs from ``devices``, cut into batches of ≤ ``batch_size``."""
    params = get_current_context()["params"]
    hook = api_hook()
    targets = _targets(hook, params)
    conn = db_connection()
    try:
        batches = planning.plan_batches(conn, targets, hook.batch_size, params.get("imeis"))
    finally:
        conn.close()
    log.info("%d batches over %d targets (batch size %d)", len(batches), len(targets), hook.batch_size)
    return batches


@task(multiple_outputs=False, map_index_template="{{ batch_label }}")
def fetch_and_load(endpoint: str, batch: dict, window: dict | None = None) -> dict:
    """One target × batch: call the endpoint's API method(s) and load the rows idempotently."""
    context = get_current_context()
    context["batch_label"] = batch["label"]  # type: ignore[typeddict-unknown-key]
    loader, _table = endpoints.BATCH_LOADERS[endpoint]
    hook, conn = api_hook(), db_connection()
    try:
        counts = loader(hook, conn, batch, Window.from_xcom(window) if window else None)
    finally:
        conn.close()
        hook.close()
    log.info("%s %s: %s", endpoint, batch["label"], counts["tables"])
    return {"target": batch["target"], "batch_no": batch["batch_no"], "imeis": len(batch["imeis"]), **counts}


@task(multiple_outputs=False, map_index_template="{{ target_label }}")
def register_devices(target: str) -> dict:
    """device.list of one target: new IMEIs in ``devices`` at once, missing ones marked inactive."""
    get_current_context()["target_label"] = target  # type: ignore[typeddict-unknown-key]
    hook, conn = api_hook(), db_connection()
    try:
        return endpoints.register_target_devices(hook, conn, target)
    finally:
        conn.close()
        hook.close()


@task
def plan_detail_batches(registered: list[dict]) -> list[dict]:
    """Batches of the IMEIs device.list returned (or the ``imeis`` param subset of them)."""
    params = get_current_context()["params"]
    subset = set(params.get("imeis") or [])
    by_target = {r["target"]: [i for i in r["imeis"] if not subset or i in subset] for r in all_results(registered)}
    return planning.make_batches(by_target, api_hook().batch_size)


@task(multiple_outputs=False, map_index_template="{{ target_label }}")
def poll_positions(target: str) -> dict:
    """location.list of one target; returns the IMEIs it omitted (for location.get)."""
    params = get_current_context()["params"]
    get_current_context()["target_label"] = target  # type: ignore[typeddict-unknown-key]
    hook, conn = api_hook(), db_connection()
    try:
        expected = planning.active_imeis(conn, [target], params.get("imeis"))[target]
        return endpoints.poll_target_positions(hook, conn, target, expected)
    finally:
        conn.close()
        hook.close()


@task
def plan_missing_batches(polled: list[dict]) -> list[dict]:
    """Batches (≤ batch_size) of the IMEIs location.list omitted, per target."""
    return planning.make_batches({p["target"]: p["missing"] for p in all_results(polled)}, api_hook().batch_size)


def summarise(results: list[dict]) -> dict:
    """Sum the per-batch counts by table."""
    totals: dict[str, dict[str, int]] = {}
    batches = 0
    for result in results:
        if not result:
            continue
        batches += 1
        for table, counts in result.get("tables", {}).items():
            t = totals.setdefault(table, {"received": 0, "inserted": 0, "updated": 0})
            for key in t:
                t[key] += counts.get(key, 0)
    return {"batches": batches, "tables": totals}


@task(multiple_outputs=False, trigger_rule="none_failed")
def record_counts(results: list[dict] | None, window: dict | None = None, extra: list[dict] | None = None,
                  table: str = "") -> dict:
    """Log the run's counts and attach them to the table's asset event (``outlets`` set by the DAG)."""
    context = get_current_context()
    summary = summarise([*all_results(results), *all_results(extra)])
    summary["window"] = window
    for asset in context["task"].outlets or []:
        context["outlet_events"][asset].extra = summary
    log.info("%s: %d batches; %s", table, summary["batches"], summary["tables"])
    return summary
