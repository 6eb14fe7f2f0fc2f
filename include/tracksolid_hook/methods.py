"""The typed methods of :class:`~tracksolid_hook.hook.TracksolidHook`: one per API method the pipeline uses.

Each builds the method's parameters (IMEI batches within the method's cap, windows within its longest span,
``end_time`` inclusive), pages through the answer, and returns parsed rows; every HTTP call goes through the
hook's ``_fetch`` (signing, token, retries, rate limit, audit). Kept apart from the transport so each file reads
on its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

from tracksolid_hook import parsers
from tracksolid_hook.batching import chunk, dedupe, split_window, unique_imeis
from tracksolid_hook.errors import TracksolidResponseError
from tracksolid_hook.payloads import obd_page, paged, parking_page, result_rows
from tracksolid_hook.values import format_api_time

log = logging.getLogger(__name__)

DEVICE_LIST = "jimi.user.device.list"
DEVICE_DETAIL = "jimi.track.device.detail"
LOCATION_LIST = "jimi.user.device.location.list"
LOCATION_GET = "jimi.device.location.get"
TRACK_LIST = "jimi.device.track.list"
TRACK_MILEAGE = "jimi.device.track.mileage"
PARKING = "jimi.open.platform.report.parking"
ALARM_LIST = "jimi.device.alarm.list"
OBD_LIST = "jimi.device.obd.list"
CHILD_LIST = "jimi.user.child.list"
#: Sub-account discovery stops at this depth / this many accounts (a loop in the platform's answer).
MAX_CHILD_DEPTH = 4
MAX_TARGETS = 500

#: Doc: alarm.list and obd.list take page_size 1..100.
DOC_MAX_PAGE_SIZE = 100
#: A window this short is never split further when the alarm row cap is hit.
MIN_ALARM_SPLIT = timedelta(minutes=1)


class TracksolidMethods:
    """Mixin of the typed methods; needs ``settings``, ``call`` and ``_fetch`` from the hook."""

    # --- helpers for the typed methods -------------------------------------------------------------

    def _report(self, method: str, result: parsers.ParseResult, target: str | None) -> list[dict]:
        for item, reason in result.rejects:
            log.warning("%s (target %s): item rejected — %s: %s", method, target, reason,
                        json.dumps(item, default=str, ensure_ascii=False)[:2000])
        return result.rows

    def _window(self, begin: datetime, end: datetime) -> tuple[datetime, datetime]:
        """Check the window and keep ``end`` in the past (the API refuses a future end_time)."""
        if begin.tzinfo is None or end.tzinfo is None:
            raise ValueError("begin/end must be aware datetimes (UTC)")
        now = datetime.now(UTC).replace(microsecond=0)
        # [begin, end) is sent with end_time = end - 1 s (inclusive), so end = now is already in the past.
        return begin.astimezone(UTC), min(end.astimezone(UTC), now)

    def _span(self, method: str) -> timedelta:
        days = self.settings.max_span_days.get(method)
        return timedelta(days=days) if days else timedelta(days=36500)

    def _batches(self, method: str, imeis: Iterable[str]) -> list[list[str]]:
        return chunk(unique_imeis(imeis), self.settings.imei_cap(method))

    def _pages_by_start_row(self, method: str, params: dict, extract: Callable[[dict], tuple[list, int | None]],
                            parse: Callable[[list], parsers.ParseResult], *, target: str | None,
                            batch: list[str]) -> parsers.ParseResult:
        """Page with ``start_row``/``page_size`` until a short page, the reported total, or a repeat."""
        s = self.settings
        items: list = []
        result = parsers.ParseResult()
        start_row = s.start_row_base
        previous: list | None = None
        for _ in range(s.max_pages):
            (page, total), parsed = self._fetch(
                method, {**params, "start_row": start_row, "page_size": s.page_size}, extract, parse=parse,
                target=target, imei_count=len(batch), batch=_batch_label(batch))
            if page == previous and page:
                log.warning("%s: server repeated a page (start_row ignored?); stopping", method)
                break
            items.extend(page)
            _merge(result, parsed)
            if len(page) < s.page_size or (total is not None and len(items) >= total):
                break
            previous = page
            start_row += s.page_size
        else:
            log.warning("%s: stopped after max_pages=%d", method, s.max_pages)
        return result

    def _pages_by_page_no(self, method: str, params: dict, extract: Callable[[dict], tuple[list, int | None]],
                          parse: Callable[[list], parsers.ParseResult], *, target: str | None,
                          batch: list[str]) -> parsers.ParseResult:
        """Page with ``page_no`` (from 1) / ``page_size`` (≤ 100) until a short page or the total."""
        s = self.settings
        page_size = min(s.page_size, DOC_MAX_PAGE_SIZE)
        items: list = []
        result = parsers.ParseResult()
        previous: list | None = None
        for page_no in range(1, s.max_pages + 1):
            (page, total), parsed = self._fetch(
                method, {**params, "page_no": page_no, "page_size": page_size}, extract, parse=parse,
                target=target, imei_count=len(batch), batch=_batch_label(batch))
            if page == previous and page:
                log.warning("%s: server repeated a page (page_no ignored?); stopping", method)
                break
            items.extend(page)
            _merge(result, parsed)
            if len(page) < page_size or (total is not None and len(items) >= total):
                break
            previous = page
        else:
            log.warning("%s: stopped after max_pages=%d", method, s.max_pages)
        return result

    # --- typed methods (the endpoint DAGs' API) ----------------------------------------------------

    def list_devices(self, target: str) -> list[dict]:
        """``jimi.user.device.list`` for one account target → ``devices`` rows (+ ``account``=target)."""
        _, parsed = self._fetch(DEVICE_LIST, {"target": target}, result_rows, target=target,
                                parse=partial(parsers.parse_items, parsers.parse_device_list_item, account=target))
        rows = self._report(DEVICE_LIST, parsed, target)
        return dedupe(rows, parsers.ROW_KEYS["devices"])

    def device_detail(self, imei: str) -> dict:
        """``jimi.track.device.detail`` for one IMEI → a ``devices`` row of the detail fields.
        Merge it into the list row with :func:`tracksolid_hook.parsers.merge_device`."""
        envelope = self.call(DEVICE_DETAIL, {"imei": imei}, imei_count=1, batch=imei)
        result = envelope.get("result")
        if isinstance(result, list) and len(result) == 1:  # a one-row array instead of the object
            result = result[0]
        if not isinstance(result, dict):
            raise TracksolidResponseError("device detail has no result object", method=DEVICE_DETAIL,
                                          batch=imei)
        try:
            return parsers.parse_device_detail(result)
        except parsers.RowRejected as exc:
            raise TracksolidResponseError(f"device detail unusable: {exc}", method=DEVICE_DETAIL,
                                          batch=imei) from exc

    def location_list(self, target: str) -> list[dict]:
        """``jimi.user.device.location.list`` → ``live_positions`` rows. A device that never had a fix
        (``hbTime`` but no ``gpsTime``) gives a row with ``gps_time`` None (its heartbeat and online state);
        devices may also be silently missing — see :meth:`location_get`."""
        _, parsed = self._fetch(LOCATION_LIST, {"target": target, "map_type": self.settings.map_type},
                                result_rows, target=target, parse=partial(parsers.parse_items, parsers.parse_location))
        rows = self._report(LOCATION_LIST, parsed, target)
        return dedupe(rows, parsers.ROW_KEYS["live_positions"])

    def location_get(self, imeis: Sequence[str]) -> list[dict]:
        """``jimi.device.location.get`` for any number of IMEIs (batched) → ``live_positions`` rows."""
        rows: list[dict] = []
        for batch in self._batches(LOCATION_GET, imeis):
            _, parsed = self._fetch(LOCATION_GET, {"imeis": ",".join(batch), "map_type": self.settings.map_type},
                                    result_rows, imei_count=len(batch), batch=_batch_label(batch),
                                    parse=partial(parsers.parse_items, parsers.parse_location))
            rows += self._report(LOCATION_GET, parsed, None)
        return dedupe(rows, parsers.ROW_KEYS["live_positions"])

    def track_list(self, imei: str, begin: datetime, end: datetime) -> list[dict]:
        """``jimi.device.track.list`` (one IMEI per call) → ``position_history`` rows, source
        ``track_list``; windows longer than 7 days are split."""
        begin, end = self._window(begin, end)
        rows: list[dict] = []
        for b, e in split_window(begin, end, self._span(TRACK_LIST)):
            if _closed_end(b, e) is None:
                continue
            _, parsed = self._fetch(
                TRACK_LIST,
                {"imei": imei, "begin_time": format_api_time(b), "end_time": _closed_end(b, e),
                 "map_type": self.settings.map_type},
                result_rows, imei_count=1, batch=imei,
                parse=partial(parsers.parse_items, parsers.parse_track_point, imei=imei),
            )
            rows += self._report(TRACK_LIST, parsed, None)
        return sorted(dedupe(rows, parsers.ROW_KEYS["position_history"]), key=lambda r: r["gps_time"])

    def track_mileage(self, imeis: Sequence[str], begin: datetime, end: datetime) -> list[dict]:
        """``jimi.device.track.mileage`` → ``trips`` rows (``distance_km`` = metres / 1000), paged by
        ``start_row``."""
        begin, end = self._window(begin, end)
        if _closed_end(begin, end) is None:
            return []
        rows: list[dict] = []
        for batch in self._batches(TRACK_MILEAGE, imeis):
            params = {"imeis": ",".join(batch), "begin_time": format_api_time(begin),
                      "end_time": _closed_end(begin, end)}
            parsed = self._pages_by_start_row(TRACK_MILEAGE, params, paged(result_rows),
                                              partial(parsers.parse_items, parsers.parse_trip), target=None,
                                              batch=batch)
            rows += self._report(TRACK_MILEAGE, parsed, None)
        return dedupe(rows, parsers.ROW_KEYS["trips"])

    def parking(self, account: str, imeis: Sequence[str], begin: datetime, end: datetime,
                acc_type: str = "off") -> list[dict]:
        """``jimi.open.platform.report.parking`` → ``parking_events`` rows. ``acc_type`` is "off"
        (parking) or "on" (idling); the value sent is the ``acc_type_values`` extra."""
        if acc_type not in ("off", "on"):
            raise ValueError(f"acc_type must be 'off' or 'on', got {acc_type!r}")
        begin, end = self._window(begin, end)
        if _closed_end(begin, end) is None:
            return []
        rows: list[dict] = []
        for batch in self._batches(PARKING, imeis):
            params = {"account": account, "imeis": ",".join(batch), "start_time": format_api_time(begin),
                      "end_time": _closed_end(begin, end), "acc_type": self.settings.acc_type_values[acc_type]}
            parsed = self._pages_by_start_row(
                PARKING, params, parking_page, partial(parsers.parse_items, parsers.parse_parking, acc_type=acc_type),
                target=account, batch=batch)
            rows += self._report(PARKING, parsed, account)
        return dedupe(rows, parsers.ROW_KEYS["parking_events"])

    def alarm_list(self, imeis: Sequence[str], begin: datetime, end: datetime) -> list[dict]:
        """``jimi.device.alarm.list`` → ``alarms`` rows (source ``poll``), paged by ``page_no``;
        windows over a month are split, and a window that hits the 1000-row cap is halved."""
        begin, end = self._window(begin, end)
        rows: list[dict] = []
        for batch in self._batches(ALARM_LIST, imeis):
            pending = split_window(begin, end, self._span(ALARM_LIST))
            while pending:
                b, e = pending.pop(0)
                if _closed_end(b, e) is None:
                    continue
                params = {"imeis": ",".join(batch), "begin_time": format_api_time(b),
                          "end_time": _closed_end(b, e)}
                parsed = self._pages_by_page_no(ALARM_LIST, params, paged(result_rows),
                                                partial(parsers.parse_items, parsers.parse_alarm), target=None,
                                                batch=batch)
                if len(parsed.rows) + len(parsed.rejects) >= self.settings.alarm_row_cap and e - b > MIN_ALARM_SPLIT:
                    middle = b + (e - b) / 2
                    middle = middle.replace(microsecond=0)
                    log.info("alarm.list hit the %d-row cap for %s..%s; splitting",
                             self.settings.alarm_row_cap, b, e)
                    pending[:0] = [(b, middle), (middle, e)]
                    continue
                rows += self._report(ALARM_LIST, parsed, None)
        return dedupe(rows, parsers.ROW_KEYS["alarms"])

    def obd_list(self, account: str, imeis: Sequence[str], begin: datetime, end: datetime) -> list[dict]:
        """``jimi.device.obd.list`` → ``obd_readings`` rows (source ``poll``), paged by ``page_no``;
        windows over 31 days are split."""
        begin, end = self._window(begin, end)
        rows: list[dict] = []
        for batch in self._batches(OBD_LIST, imeis):
            for b, e in split_window(begin, end, self._span(OBD_LIST)):
                if _closed_end(b, e) is None:
                    continue
                params = {"account": account, "imeis": ",".join(batch), "start_time": format_api_time(b),
                          "end_time": _closed_end(b, e)}
                parsed = self._pages_by_page_no(OBD_LIST, params, obd_page,
                                                partial(parsers.parse_items, parsers.parse_obd), target=account,
                                                batch=batch)
                rows += self._report(OBD_LIST, parsed, account)
        return dedupe(rows, parsers.ROW_KEYS["obd_readings"])


# --- module helpers ------------------------------------------------------------------------------

def _merge(into: parsers.ParseResult, more: parsers.ParseResult | None) -> None:
    if more is not None:
        into.rows.extend(more.rows)
        into.rejects.extend(more.rejects)


def _closed_end(begin: datetime, end: datetime) -> str | None:
    """The ``end_time`` to send for the half-open window ``[begin, end)``: the API's end is inclusive and
    its times have 1-second resolution, so ``end - 1 s`` asks for exactly the window. None when the window
    holds no whole second after ``begin`` (nothing to ask for)."""
    last = (end - timedelta(seconds=1)).replace(microsecond=0)
    if end.microsecond:
        last = end.replace(microsecond=0)
    return format_api_time(last) if last > begin else None


def _batch_label(batch: Sequence[str]) -> str:
    """Short, log-friendly name of an IMEI batch: first..last (n)."""
    if not batch:
        return "empty"
    return batch[0] if len(batch) == 1 else f"{batch[0]}..{batch[-1]} ({len(batch)})"
