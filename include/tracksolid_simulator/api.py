"""The WSGI application: ``POST /route/rest`` speaking the Tracksolid protocol, plus ``/_sim/*`` control and
ground-truth endpoints.

Protocol order for every call: HTTP method (1007) → body type (1008) → common parameters (1001) →
timestamp window (``stale_timestamp_code``) → signature (``bad_sign_code``) → rate limits (1006) →
access token (1004) → injected fault → the method (its own limits: 219/220/1001/1002).

Accounts: ``accounts[0]`` is the head account, parent of every other. A token sees its own account and, for
the head account, every sub-account — so the head account's token can call methods for every target, as on
the real platform. Tokens and the timestamp window run on real wall time; data availability ("end_time must
be in the past", late fixes, trips in progress) runs on the simulated clock.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tracksolid_simulator.config import SimulatorConfig
from tracksolid_simulator.faults import FaultPlan, FaultSpec
from tracksolid_simulator.fleet import Fleet
from tracksolid_simulator.protocol import (
    format_iso_z,
    format_time,
    md5_lower,
    num_str,
    parse_api_time,
    sign_params,
)

SECRET_PARAMS = {"sign", "access_token", "refresh_token", "user_pwd_md5"}
COMMON_PARAMS = ("method", "timestamp", "app_key", "sign_method", "v", "format")
MESSAGES = {
    -1: "The system is busy",
    1001: "Parameter error",
    1002: "Illegal user/illegal device",
    1004: "Illegal access, token exception!",
    1006: "Illegal access, too frequently request!",
    1007: "Illegal access, request method error!",
    1008: "Illegal access, abnormal incoming!",
    219: "IMEI list is illegal",
    220: "Number of IMEI exceeds limitation.",
}


class ApiError(Exception):
    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message or MESSAGES.get(code, "error"))
        self.code = code
        self.message = message or MESSAGES.get(code, "error")


class SimClock:
    """Simulated now: ``clock_start + real elapsed * clock_speed`` (real now when no start is given)."""

    def __init__(self, start: datetime | None, speed: float) -> None:
        self.real_anchor = time.time()
        self.sim_anchor = (start or datetime.now(UTC)).timestamp()
        self.speed = speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.sim_anchor + (time.time() - self.real_anchor) * self.speed, tz=UTC)

    def set(self, moment: datetime, speed: float | None = None) -> None:
        self.real_anchor = time.time()
        self.sim_anchor = moment.timestamp()
        if speed is not None:
            self.speed = speed


@dataclass
class Token:
    access_token: str
    refresh_token: str
    account: str
    issued_at: float
    expires_at: float
    revoked: bool = False


def to_json(value):
    """JSON default: datetimes as ISO-8601 UTC, Decimals as strings."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json_response(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload, default=to_json, ensure_ascii=False), status=status,
                    mimetype="application/json")


class SimulatorApp:
    """The simulated platform behind one app_key."""

    def __init__(self, fleet: Fleet, cfg: SimulatorConfig, stopping: threading.Event | None = None) -> None:
        self.fleet = fleet
        self.cfg = cfg
        self.clock = SimClock(cfg.clock_start, cfg.clock_speed)
        self.faults = FaultPlan()
        self.stopping = stopping or threading.Event()
        self._lock = threading.Lock()
        self.tokens: dict[str, Token] = {}
        self.refresh_index: dict[str, str] = {}
        self._token_gets: dict[str, deque] = defaultdict(deque)
        self._bucket = float(cfg.burst)
        self._bucket_at = time.monotonic()
        self._daily: dict[str, int] = defaultdict(int)
        self.request_log: list[dict] = []
        self.passwords = dict(cfg.account_credentials())
        self.url_map = Map([
            Rule("/route/rest", endpoint="rest"),
            Rule("/_sim/health", endpoint="health"),
            Rule("/_sim/config", endpoint="config"),
            Rule("/_sim/now", endpoint="now"),
            Rule("/_sim/requests", endpoint="requests"),
            Rule("/_sim/requests/clear", endpoint="requests_clear", methods=["POST"]),
            Rule("/_sim/faults", endpoint="faults"),
            Rule("/_sim/truth/<kind>", endpoint="truth"),
        ])
        if cfg.location_missing_ratio > 0:
            self.faults.set("jimi.user.device.location.list",
                            FaultSpec(missing_ratio=cfg.location_missing_ratio, seed=cfg.seed))

    # ------------------------------------------------------------------------------------- WSGI ------
    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, f"_ep_{endpoint}")(request, **args)
        except NotFound:
            response = _json_response({"error": "not found"}, 404)
        except HTTPException as exc:
            response = exc.get_response()
        return response(environ, start_response)

    # --------------------------------------------------------------------------------- control -------
    def _ep_health(self, request: Request) -> Response:
        return _json_response({"ok": True})

    def _ep_config(self, request: Request) -> Response:
        return _json_response(self.cfg.public_dict())

    def _ep_now(self, request: Request) -> Response:
        return _json_response({"now": self.clock.now()})

    def _ep_requests(self, request: Request) -> Response:
        with self._lock:
            return _json_response(list(self.request_log))

    def _ep_requests_clear(self, request: Request) -> Response:
        with self._lock:
            self.request_log.clear()
        return _json_response({"ok": True})

    def _ep_faults(self, request: Request) -> Response:
        if request.method == "GET":
            return _json_response(self.faults.snapshot())
        try:
            body = request.get_json(force=True)
            method = body.pop("method", "*")
            if body.pop("clear", False):
                self.faults.clear(None if method == "*" and not body.pop("only", False) else method)
            else:
                self.faults.set(method, FaultSpec.from_dict(body))
        except (ValueError, TypeError, AttributeError) as exc:
            return _json_response({"error": str(exc)}, 400)
        return _json_response(self.faults.snapshot())

    def _ep_truth(self, request: Request, kind: str) -> Response:
        from tracksolid_simulator.truth_http import truth_query

        try:
            rows = truth_query(self.fleet.truth, kind, request.args, self.clock.now())
        except (KeyError, ValueError) as exc:
            return _json_response({"error": str(exc)}, 400)
        return _json_response(rows)

    # ------------------------------------------------------------------------------------ protocol ---
    def _ep_rest(self, request: Request) -> Response:
        started = time.monotonic()
        params: dict = {}
        entry = {"method": None, "imei_count": 0, "params": {}, "code": None, "http_status": 200,
                 "at": datetime.now(UTC), "fault": None, "account": None, "rows": None}
        try:
            if request.method != "POST":
                raise ApiError(1007)
            if request.is_json:
                if not self.cfg.accept_json_body:
                    raise ApiError(1008, "Illegal access, abnormal incoming! (send a form body)")
                params = {k: str(v) for k, v in (request.get_json(silent=True) or {}).items()}
            else:
                params = {k: v for k, v in request.form.items()}
            method = params.get("method")
            entry["method"] = method
            entry["params"] = {k: v for k, v in params.items() if k not in SECRET_PARAMS}
            entry["imei_count"] = _imei_count(params)
            self._check_common(params)
            self._check_rate()
            token = None
            if method != "jimi.oauth.token.get" and method != "jimi.oauth.token.refresh":
                token = self._check_token(params.get("access_token"))
                entry["account"] = token.account
            kind, spec = self.faults.draw(method)
            entry["fault"] = None if kind == "ok" else kind
            if kind == "-1":
                raise ApiError(-1)
            if kind == "1006":
                raise ApiError(1006)
            if kind == "1004":
                self._revoke(params.get("access_token"))
                raise ApiError(1004, "Illegal access, token exception! (token revoked)")
            if kind in ("http500", "http502"):
                status = 500 if kind == "http500" else 502
                entry.update(code=None, http_status=status)
                return Response("<html><body>Bad Gateway</body></html>" if status == 502 else
                                "Internal Server Error", status=status, mimetype="text/html")
            if kind == "slow":
                self.stopping.wait(spec.slow_s if spec and spec.slow_s is not None
                                    else self.cfg.slow_response_s)
            handler = HANDLERS.get(method)
            if handler is None:
                raise ApiError(1001, f"unknown method {method!r}")
            payload = _reshape(handler(self, params, token, entry, kind == "empty"), kind, spec)
            body = {"code": 0, "message": "success", **payload}
            entry["code"] = 0
            text = json.dumps(body, default=to_json, ensure_ascii=False)
            if kind == "truncate":
                text = text[: max(1, len(text) // 2)]
            return Response(text, status=200, mimetype="application/json")
        except ApiError as exc:
            entry["code"] = exc.code
            entry["error"] = exc.message
            return _json_response({"code": exc.code, "message": exc.message, "result": None, "data": None})
        finally:
            entry["duration_ms"] = int((time.monotonic() - started) * 1000)
            with self._lock:
                self.request_log.append(entry)

    def _check_common(self, params: dict) -> None:
        missing = [p for p in COMMON_PARAMS if not params.get(p)]
        if missing:
            raise ApiError(1001, f"missing common parameter(s): {', '.join(missing)}")
        if params["app_key"] != self.cfg.app_key:
            raise ApiError(1001, "illegal app_key")
        if params["sign_method"] != "md5" or params["format"] != "json" or params["v"] not in ("1.0", "0.9"):
            raise ApiError(1001, "sign_method must be md5, format json, v 1.0 or 0.9")
        try:
            stamp = parse_api_time(params["timestamp"])
        except ValueError:
            raise ApiError(1001, "timestamp must be yyyy-MM-dd HH:mm:ss (UTC)") from None
        if abs(stamp.timestamp() - time.time()) > self.cfg.timestamp_tolerance_s:
            raise ApiError(self.cfg.stale_timestamp_code, "timestamp outside the allowed window (±10 min)")
        if params["v"] == "0.9" and self.cfg.allow_v09_unsigned:
            return
        if not params.get("sign") or params["sign"] != sign_params(params, self.cfg.app_secret):
            raise ApiError(self.cfg.bad_sign_code, "signature verification failed")

    def _check_rate(self) -> None:
        with self._lock:
            if self.cfg.max_requests_per_s:
                now = time.monotonic()
                self._bucket = min(float(self.cfg.burst),
                                   self._bucket + (now - self._bucket_at) * self.cfg.max_requests_per_s)
                self._bucket_at = now
                if self._bucket < 1.0:
                    raise ApiError(1006)
                self._bucket -= 1.0
            if self.cfg.daily_quota is not None:
                day = datetime.now(UTC).date().isoformat()
                if self._daily[day] >= self.cfg.daily_quota:
                    raise ApiError(1006, "Illegal access, too frequently request! (daily quota used up)")
                self._daily[day] += 1

    def _check_token(self, value: str | None) -> Token:
        if not value:
            raise ApiError(1004, "Illegal access, token exception! (missing access_token)")
        with self._lock:
            token = self.tokens.get(value)
        if token is None or token.revoked:
            raise ApiError(1004)
        if time.time() >= token.expires_at:
            raise ApiError(1004, "Illegal access, token exception! (token expired)")
        return token

    def _revoke(self, value: str | None) -> None:
        with self._lock:
            token = self.tokens.get(value or "")
            if token is not None:
                token.revoked = True

    def _issue(self, account: str, expires_in: int) -> Token:
        ttl = min(expires_in, self.cfg.token_ttl_s)
        now = time.time()
        token = Token(secrets.token_hex(16), secrets.token_hex(16), account, now, now + ttl)
        with self._lock:
            if self.cfg.token_get_revokes_previous:
                for other in self.tokens.values():
                    if other.account == account:
                        other.revoked = True
            self.tokens[token.access_token] = token
            self.refresh_index[token.refresh_token] = token.access_token
        return token

    def token_result(self, token: Token) -> dict:
        return {"appKey": self.cfg.app_key, "account": token.account, "accessToken": token.access_token,
                "expiresIn": int(round(token.expires_at - token.issued_at)),
                "refreshToken": token.refresh_token,
                "time": format_time(datetime.fromtimestamp(token.issued_at, tz=UTC))}

    # ------------------------------------------------------------------------------ shared checks ----
    def now(self) -> datetime:
        return self.clock.now()

    def visible(self, token: Token, account: str | None) -> str:
        if not account:
            raise ApiError(1001, "missing target/account")
        if account not in self.fleet.accounts or account not in self.fleet.visible_accounts(token.account):
            raise ApiError(1002, f"Illegal user: {account}")
        return account

    def imei_list(self, token: Token, raw: str | None, scope_account: str | None = None) -> list[str]:
        if not raw:
            raise ApiError(1001, "missing imeis")
        imeis = [i.strip() for i in raw.split(",")]
        if any(not i.isdigit() or len(i) not in (15, 16) for i in imeis) or len(set(imeis)) != len(imeis):
            raise ApiError(219)
        if len(imeis) > self.cfg.imei_cap:
            raise ApiError(220, f"Number of IMEI exceeds limitation ({len(imeis)} > {self.cfg.imei_cap})")
        allowed = self.fleet.visible_accounts(scope_account or token.account)
        for imei in imeis:
            dev = self.fleet.device(imei)
            if dev is None or dev.account not in allowed:
                raise ApiError(1002, f"Illegal device{{{imei}}}")
        return imeis

    def window(self, params: dict, begin_key: str, end_key: str, max_days: float) -> tuple[datetime, datetime]:
        try:
            begin = parse_api_time(params.get(begin_key))
            end = parse_api_time(params.get(end_key))
        except ValueError:
            raise ApiError(1001, f"{begin_key}/{end_key} must be yyyy-MM-dd HH:mm:ss") from None
        if end <= begin:
            raise ApiError(1001, f"{end_key} must be after {begin_key}")
        if end > self.now():
            raise ApiError(1001, f"{end_key} should be earlier than current time")
        if end - begin > timedelta(days=max_days):
            raise ApiError(1001, f"time range exceeds {max_days:g} days")
        # The platform's end_time is inclusive (times have 1-second resolution); the truth queries are
        # half-open, so [begin, end] on the wire is [begin, end + 1 s) in the truth.
        return begin, end + timedelta(seconds=1)


def _reshape(payload: dict, kind: str, spec: FaultSpec | None = None) -> dict:
    """Payload variants seen in the field (fault kinds result_object / result_single / result_scalar /
    never_fixed / custom_result); any other kind leaves the payload as the method built it."""
    result = payload.get("result")
    if kind == "custom_result":
        return {**payload, "result": spec.result if spec is not None else None}
    if kind == "result_object" and isinstance(result, list):
        return {**payload, "result": {"list": result}}
    if kind == "result_single" and isinstance(result, list) and len(result) == 1:
        return {**payload, "result": result[0]}
    if kind == "result_scalar":
        return {**payload, "result": len(result) if isinstance(result, list) else 1}
    if kind == "never_fixed" and isinstance(result, list):
        rows = [{**row, "gpsTime": None, "lat": 0, "lng": 0, "speed": None, "posType": None}
                if isinstance(row, dict) and "hbTime" in row else row for row in result]
        return {**payload, "result": rows}
    return payload


def _imei_count(params: dict) -> int:
    raw = params.get("imeis") or params.get("imei") or ""
    return len([i for i in raw.split(",") if i.strip()])


def _int_param(params: dict, key: str, default: int | None, lo: int | None = None, hi: int | None = None) -> int:
    raw = params.get(key)
    if raw in (None, ""):
        if default is None:
            raise ApiError(1001, f"missing {key}")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(1001, f"{key} must be an integer") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ApiError(1001, f"{key} out of range")
    return value


# ---------------------------------------------------------------------------------------- methods ---
def m_token_get(app: SimulatorApp, params, _token, entry, _empty) -> dict:
    account = params.get("user_id")
    entry["account"] = account
    try:
        expires_in = int(params.get("expires_in", ""))
    except ValueError:
        raise ApiError(1001, "expires_in must be a number of seconds (60-7200)") from None
    if not 60 <= expires_in <= 7200:
        raise ApiError(1001, "expires_in must be within 60-7200")
    password = app.passwords.get(account or "")
    if password is None or params.get("user_pwd_md5") != md5_lower(password):
        raise ApiError(1002, "Incorrect user name or password")
    with app._lock:
        window = app._token_gets[account]
        now = time.monotonic()
        while window and now - window[0] > app.cfg.token_get_window_s:
            window.popleft()
        if len(window) >= app.cfg.token_get_limit:
            raise ApiError(1006, "Illegal access, too frequently request! (cache your access token)")
        window.append(now)
    return {"result": app.token_result(app._issue(account, expires_in)), "data": None}


def m_token_refresh(app: SimulatorApp, params, _token, entry, _empty) -> dict:
    with app._lock:
        old = app.tokens.get(params.get("access_token") or "")
    if old is None or old.revoked or old.refresh_token != params.get("refresh_token"):
        raise ApiError(1004, "Illegal access, token exception! (unknown or used refresh token)")
    entry["account"] = old.account
    if time.time() >= old.expires_at and not app.cfg.refresh_expired_allowed:
        raise ApiError(1004, "Illegal access, token exception! (token expired)")
    try:
        expires_in = int(params.get("expires_in", ""))
    except ValueError:
        raise ApiError(1001, "expires_in must be a number of seconds (60-7200)") from None
    if not 60 <= expires_in <= 7200:
        raise ApiError(1001, "expires_in must be within 60-7200")
    old.revoked = True
    return {"result": app.token_result(app._issue(old.account, expires_in)), "data": None}


def m_child_list(app: SimulatorApp, params, token, _entry, _empty) -> dict:
    target = app.visible(token, params.get("target"))
    rows = [{"account": child, "name": app.fleet.customer_name(child), "type": 9, "displayFlag": 1,
             "address": None, "birth": None, "companyName": app.fleet.customer_name(child), "email": "",
             "phone": "", "language": "en", "sex": 0, "enabledFlag": 1, "remark": None}
            for child in app.fleet.children(target)]
    return {"result": rows, "data": None}


def _device_common(info: dict) -> dict:
    return {
        "imei": info["imei"], "deviceName": info["device_name"], "mcType": info["mc_type"],
        "mcTypeUseScope": info["mc_type_use_scope"], "sim": info["sim"],
        "expiration": format_time(info["expiration"]), "activationTime": format_time(info["activation_time"]),
        "reMark": info["remark"], "vehicleName": info["vehicle_name"], "vehicleIcon": info["vehicle_icon"],
        "vehicleNumber": info["vehicle_number"], "vehicleModels": info["vehicle_models"],
        "carFrame": info["car_frame"], "driverName": info["driver_name"], "driverPhone": info["driver_phone"],
        "enabledFlag": info["enabled_flag"], "engineNumber": info["engine_number"],
        "deviceGroupId": info["device_group_id"], "deviceGroup": info["device_group"],
    }


def m_device_list(app: SimulatorApp, params, token, entry, empty) -> dict:
    target = app.visible(token, params.get("target"))
    rows = []
    for dev in app.fleet.devices:
        if dev.account != target:
            continue
        row = _device_common(dev.info)
        # production quirk (FIX-M18): these come back null in the list; the detail call has them
        row.update(vehicleName=None, vehicleNumber=None, driverName=None, driverPhone=None, sim=None)
        rows.append(row)
    rows = [] if empty else rows
    entry["rows"] = len(rows)
    return {"result": rows, "data": None}


def m_device_detail(app: SimulatorApp, params, token, entry, _empty) -> dict:
    imei = (params.get("imei") or "").strip()
    if not imei:
        raise ApiError(1001, "missing imei")
    app.imei_list(token, imei)
    info = app.fleet.device(imei).info
    row = _device_common(info)
    row.update({
        "account": info["account"], "customerName": info["customer_name"], "iccid": info["iccid"],
        "imsi": info["imsi"], "importTime": format_time(info["import_time"]),
        "licensePlatNo": info["license_plate_no"], "VIN": info["vin"], "vehicleBrand": info["vehicle_brand"],
        "fuel_100km": info["fuel_100km"], "status": info["status"],
        "currentMileage": num_str(app.fleet.truth.odometer_km(imei, app.now())),
        "user_expiration": None,
    })
    entry["rows"] = 1
    return {"result": row, "data": None}


def _location_row(app: SimulatorApp, imei: str, fix: dict, now: datetime) -> dict:
    dev = app.fleet.device(imei)
    return {
        "imei": imei, "deviceName": dev.device_name, "mcType": dev.model, "icon": dev.info["vehicle_icon"],
        "status": "1" if fix["online"] else "0", "posType": fix["pos_type"], "lat": fix["lat"],
        "lng": fix["lng"], "hbTime": format_time(fix["hb_time"]), "accStatus": "1" if fix["acc_status"] else "0",
        "gpsSignal": str(fix["gps_signal"]), "powerValue": num_str(fix["power_value"]),
        "batteryPowerVal": num_str(fix["battery_power_val"]), "speed": num_str(fix["speed_kmh"]),
        "gpsNum": str(fix["gps_num"]), "gpsTime": format_time(fix["gps_time"]),
        "direction": str(fix["direction"]), "activationFlag": "1", "expireFlag": "1",
        "electQuantity": num_str(fix["elect_quantity"]), "locDesc": None, "distance": "-1",
        "temperature": None, "trackerOil": None,
        "currentMileage": num_str(fix["odometer_km"]), "account": dev.account,
        "customerName": dev.info["customer_name"], "confidence": None,
    }


def m_location_list(app: SimulatorApp, params, token, entry, empty) -> dict:
    target = app.visible(token, params.get("target"))
    now = app.now()
    ratio, rng = app.faults.missing("jimi.user.device.location.list")
    rows, missing = [], []
    for dev in app.fleet.devices:
        if dev.account != target:
            continue
        if ratio and rng is not None and rng.random() < ratio:
            missing.append(dev.imei)
            continue
        fix = app.fleet.truth.latest_fix(dev.imei, now)
        if fix is not None:
            rows.append(_location_row(app, dev.imei, fix, now))
    rows = [] if empty else rows
    entry.update(rows=len(rows), missing_imeis=missing)
    return {"result": rows, "data": None}


def m_location_get(app: SimulatorApp, params, token, entry, empty) -> dict:
    imeis = app.imei_list(token, params.get("imeis"))
    now = app.now()
    rows = []
    for imei in imeis:
        fix = app.fleet.truth.latest_fix(imei, now)
        if fix is not None:
            rows.append(_location_row(app, imei, fix, now))
    rows = [] if empty else rows
    entry["rows"] = len(rows)
    return {"result": rows, "data": None}


def m_track_list(app: SimulatorApp, params, token, entry, empty) -> dict:
    raw = (params.get("imei") or "").strip()
    if not raw or "," in raw:
        raise ApiError(1001, "imei: exactly one device per call")
    imei = app.imei_list(token, raw)[0]
    begin, end = app.window(params, "begin_time", "end_time", app.cfg.track_list_max_days)
    now = app.now()
    if begin < now - timedelta(days=app.cfg.track_list_history_days):
        raise ApiError(1001, "track history is only kept about 3 months")
    if app.cfg.track_list_delay_s:
        app.stopping.wait(app.cfg.track_list_delay_s)
    fixes = [] if empty else app.fleet.truth.fixes(begin, end, [imei], arrived_by=now)
    rows = [{
        "lat": f["lat"], "lng": f["lng"], "gpsTime": format_time(f["gps_time"]),
        "direction": str(f["direction"]), "gpsSpeed": num_str(f["speed_kmh"]), "posType": "1",
        "satellite": str(f["satellite"]), "ignition": "ON" if f["acc_status"] else "OFF",
        "accStatus": "ON" if f["acc_status"] else "OFF", "gpsMode": f["gps_mode"], "confidence": None,
    } for f in fixes]
    mileage_m = 0.0
    if len(fixes) >= 2:
        mileage_m = float(fixes[-1]["odometer_km"] - fixes[0]["odometer_km"]) * 1000
    entry["rows"] = len(rows)
    return {"result": rows, "data": {"mileage": str(int(round(mileage_m)))}}


def _page(rows: list, start_row: int, page_size: int | None) -> list:
    if page_size is None:
        return rows[start_row:]
    return rows[start_row:start_row + page_size]


def m_track_mileage(app: SimulatorApp, params, token, entry, empty) -> dict:
    imeis = app.imei_list(token, params.get("imeis"))
    begin, end = app.window(params, "begin_time", "end_time", app.cfg.max_window_days)
    base = app.cfg.start_row_base
    start_row = _int_param(params, "start_row", base, lo=base) - base
    page_size = _int_param(params, "page_size", 0, lo=0) or None
    trips = [] if empty else app.fleet.truth.trips(begin, end, imeis, completed_by=app.now())
    trips.sort(key=lambda r: (r["imei"], r["start_time"]))
    totals = {imei: 0 for imei in imeis}
    rows = []
    for r in trips:
        metres = int(r["distance_km"] * 1000)
        totals[r["imei"]] += metres
        rows.append({
            "imei": r["imei"], "startTime": format_time(r["start_time"]), "endTime": format_time(r["end_time"]),
            "startLat": r["start_lat"], "startLng": r["start_lng"], "endLat": r["end_lat"], "endLng": r["end_lng"],
            app.cfg.mileage_elapsed_key: r["run_time_s"], "distance": metres,
            "avgSpeed": float(r["avg_speed_kmh"]),
        })
    page = _page(rows, start_row, page_size)
    entry["rows"] = len(page)
    return {"result": page, "data": [{"imei": i, "totalMileage": m} for i, m in totals.items()]}


def _acc_type(raw: str | None) -> str:
    value = (raw or "").strip().lower()
    if value in ("off", "0"):
        return "off"
    if value in ("on", "1"):
        return "on"
    raise ApiError(1001, "acc_type must be on (idling) or off (parking)")


def m_report_parking(app: SimulatorApp, params, token, entry, empty) -> dict:
    account = app.visible(token, params.get("account"))
    imeis = app.imei_list(token, params.get("imeis"), scope_account=account)
    begin, end = app.window(params, "start_time", "end_time", app.cfg.max_window_days)
    acc = _acc_type(params.get("acc_type"))
    base = app.cfg.start_row_base
    start_row = _int_param(params, "start_row", None, lo=base) - base
    page_size = _int_param(params, "page_size", None, lo=1)
    t0 = time.monotonic()
    rows = [] if empty else app.fleet.truth.parking(begin, end, acc, imeis, completed_by=app.now())
    rows.sort(key=lambda r: (r["imei"], r["start_time"]))
    out = [{
        "imei": r["imei"], "startTime": format_iso_z(r["start_time"]), "endTime": format_iso_z(r["end_time"]),
        "durSecond": str(r["duration_s"]), "lng": r["lng"], "lat": r["lat"], "addr": r["address"],
        "deviceName": r["device_name"], "mcType": app.fleet.device(r["imei"]).model, "acc": acc,
        "stopSecond": str(r["stop_s"]),
    } for r in rows]
    page = _page(out, start_row, page_size)
    entry["rows"] = len(page)
    return {"result": None, "data": {"totalTime": str(int((time.monotonic() - t0) * 1000)),
                                     "dataTotalRows": str(len(out)), "rows": page}}


def m_alarm_list(app: SimulatorApp, params, token, entry, empty) -> dict:
    raw = params.get("imeis") or params.get("imei")
    imeis = app.imei_list(token, raw)
    page_no = _int_param(params, "page_no", 1, lo=1)
    page_size = _int_param(params, "page_size", 50, lo=1, hi=app.cfg.max_page_size)
    now = app.now()
    latest_only = not params.get("begin_time") and not params.get("end_time")
    if latest_only:  # documented: without a window, the latest 50 alarms of the last month
        begin, end = now - timedelta(days=30), now
    else:
        begin, end = app.window(params, "begin_time", "end_time", app.cfg.max_window_days)
    rows = [] if empty else app.fleet.truth.alarms(begin, end, imeis)
    if params.get("alertTypeId"):
        rows = [r for r in rows if r["alarm_type"] == params["alertTypeId"]]
    rows = rows[-50:] if latest_only else rows[: app.cfg.alarm_row_cap]
    out = [{
        "deviceName": r["device_name"], "imei": r["imei"], "model": app.fleet.device(r["imei"]).model,
        "account": app.fleet.device(r["imei"]).account, "alertTypeId": r["alarm_type"],
        "alarmTypeName": r["alarm_name"], "alertTime": format_time(r["alarm_time"]),
        "positioningTime": format_time(r["positioning_time"]), "lat": r["lat"], "lng": r["lng"],
        "speed": num_str(r["speed_kmh"]), "geoid": r["geoid"],
    } for r in rows]
    page = out[(page_no - 1) * page_size: page_no * page_size]
    entry["rows"] = len(page)
    return {"result": page, "data": None}


def m_obd_list(app: SimulatorApp, params, token, entry, empty) -> dict:
    account = app.visible(token, params.get("account"))
    imeis = app.imei_list(token, params.get("imeis"), scope_account=account)
    begin, end = app.window(params, "start_time", "end_time", app.cfg.max_window_days)
    page_no = _int_param(params, "page_no", 1, lo=1)
    page_size = _int_param(params, "page_size", 10, lo=1, hi=app.cfg.max_page_size)
    rows = [] if empty else app.fleet.truth.obd(begin, end, imeis)
    out = [{
        "imei": r["imei"], "dataReportTime": format_time(r["reading_time"]),
        "odometerReading": num_str(r["odometer_km"]), "deviceAccumulatedMileage": num_str(r["odometer_km"]),
        "remainingFuel": num_str(r["fuel_l"]), "remainingFuelPercentage": num_str(r["fuel_pct"]),
        "coolantTemperature": num_str(r["coolant_temp_c"]), "vehicleBatterVoltage": num_str(r["battery_v"]),
        "currentRPM": num_str(r["rpm"]), "currentSpeed": num_str(r["speed_kmh"]), "vin": r["vin"],
    } for r in rows]
    page = out[(page_no - 1) * page_size: page_no * page_size]
    entry["rows"] = len(page)
    return {"result": None, "data": {
        "currentPage": page_no, "pageSize": page_size, "startRow": (page_no - 1) * page_size,
        "endRow": (page_no - 1) * page_size + len(page), "totalRecord": len(out),
        "totalPage": math.ceil(len(out) / page_size), "result": page}}


HANDLERS = {
    "jimi.oauth.token.get": m_token_get,
    "jimi.oauth.token.refresh": m_token_refresh,
    "jimi.user.child.list": m_child_list,
    "jimi.user.device.list": m_device_list,
    "jimi.track.device.detail": m_device_detail,
    "jimi.user.device.location.list": m_location_list,
    "jimi.device.location.get": m_location_get,
    "jimi.device.track.list": m_track_list,
    "jimi.device.track.mileage": m_track_mileage,
    "jimi.open.platform.report.parking": m_report_parking,
    "jimi.device.alarm.list": m_alarm_list,
    "jimi.device.obd.list": m_obd_list,
}
