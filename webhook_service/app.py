"""The Flask application (app factory). Routes:

- ``POST /pushgps`` … ``/pushlbs`` — Jimi IoT-Hub push: form fields ``token`` + ``data_list`` (JSON array).
- ``POST /pro/<secret>`` — Tracksolid Pro push: form fields ``msgType`` + ``data`` (JSON), authenticated by
  the secret path segment (the vendor documents no signature).
- ``GET /healthz`` (the process answers) and ``GET /readyz`` (the database answers).

Success is ``{"code": 0, "msg": "success", "items": n, "accepted": a, "quarantined": q}``, sent only after the
transaction committed (accepted items are stored, quarantined ones are in ``push_quarantine`` with their
reason). Errors are JSON ``{"code": <http status>, "msg": "...", "errors": [...]}``: 4xx for a request
malformed as a whole (nothing stored), 503 when the database is unavailable or too slow (the sender retries).
Error bodies never quote the database: its messages go to the log.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from webhook_service.config import WebhookConfig
from webhook_service.forms import decode_urlencoded
from webhook_service.logs import configure_logging
from webhook_service.parsing import IOTHUB_PATHS, PushBatch, PushValidationError, parse_iothub, parse_pro
from webhook_service.store import (
    DatabaseUnavailable,
    PushStore,
    RejectedByDatabase,
    describe_dsn,
)

log = logging.getLogger("webhook_service")

SUCCESS = {"code": 0, "msg": "success"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
RETRY_AFTER_S = "5"


def _error(status: int, message: str, errors: list[str] | None = None) -> tuple[Response, int]:
    body = {"code": status, "msg": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_S
    return response, status


def _secret_matches(given: str, accepted: tuple[str, ...]) -> bool:
    """Constant-time comparison against every accepted secret (no early exit that leaks which one)."""
    given_bytes = given.encode("utf-8")
    matched = False
    for secret in accepted:
        matched |= hmac.compare_digest(given_bytes, secret.encode("utf-8"))
    return matched


def _body(limit: int) -> bytes:
    """The request body, at most ``limit`` bytes, kept for werkzeug's form parser. A body over the limit is a
    413 with or without Content-Length: werkzeug stops a chunked body at the limit without saying so (the
    first ``limit`` bytes would be stored as if they were the request), so one more byte is asked for."""
    body = request.get_data(cache=True)
    if request.content_length is None and len(body) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return body


def _form(limit: int) -> tuple[dict[str, list[str]], str | None]:
    """Every form field (multi-valued) except the token, and the (first) token. Raises 413/415 via werkzeug /
    PushValidationError."""
    if request.mimetype not in FORM_TYPES:
        raise PushValidationError(
            f"expected an application/x-www-form-urlencoded body, got {request.mimetype or 'no content type'!r}",
            status=415)
    body = _body(limit)
    fields = decode_urlencoded(body) if request.mimetype == FORM_TYPES[0] else None
    if fields is None:
        fields = dict(request.form.lists())
    for name, values in fields.items():
        # PostgreSQL text / jsonb cannot hold NUL: the raw request could not be kept in push_inbox.
        if "\x00" in name or any("\x00" in value for value in values):
            raise PushValidationError(f"form field {name.replace(chr(0), '?')!r} holds a NUL character")
    tokens = fields.pop("token", None)
    return fields, (tokens[0] if tokens else None)


def create_app(config: WebhookConfig | None = None) -> Flask:
    """Build the app. Without ``config`` it is read from the environment (see :mod:`webhook_service.config`)."""
    config = config or WebhookConfig.from_env()
    configure_logging(config.log_level)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = config.max_body_bytes
    app.json.sort_keys = False
    store = PushStore(config)
    app.extensions["webhook_store"] = store
    app.extensions["webhook_config"] = config
    log.info("push receiver configured", extra={"fields": {
        "database": describe_dsn(config.database_dsn), "pro_push": bool(config.pro_path_secret),
        "max_body_bytes": config.max_body_bytes, "pool_max": config.pool_max_size}})

    def store_batch(batch: PushBatch, form: dict[str, list[str]]):
        result = store.save(batch, form)
        counts = {"items": batch.item_count, "accepted": batch.accepted_count, "quarantined": len(batch.quarantine)}
        g.log_fields.update(inbox_id=result.inbox_id, replay=result.replay, status_in_inbox=batch.status, **counts)
        if batch.quarantine:
            g.log_fields["quarantine_reasons"] = sorted({q["reason"] for q in batch.quarantine})
        return jsonify({**SUCCESS, **counts})

    def iothub(path: str):
        form, token = _form(config.max_body_bytes)
        if not token:
            return _error(401, "missing token: the IoT-Hub push must carry the form field token")
        if not _secret_matches(token, config.iothub_tokens):
            return _error(401, "invalid token")
        data_list = form.get("data_list", [None])[0]
        return store_batch(parse_iothub(path, data_list, config), form)

    for path in IOTHUB_PATHS:
        app.add_url_rule(f"/{path}", endpoint=path, view_func=lambda path=path: iothub(path), methods=["POST"])

    @app.post("/pro/<secret>")
    def pro_push(secret: str):
        if not config.pro_path_secret:
            return _error(404, "the Tracksolid Pro push is not enabled on this receiver")
        if not _secret_matches(secret, (config.pro_path_secret,)):
            return _error(403, "unknown push path")
        form, _ = _form(config.max_body_bytes)
        batch = parse_pro(form.get("msgType", [None])[0], form.get("data", [None])[0], config)
        return store_batch(batch, form)

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        try:
            store.ping()
        except DatabaseUnavailable as exc:
            return _error(503, f"database unavailable: {exc}")
        return jsonify({"status": "ready"})

    @app.before_request
    def start_clock():
        g.started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex[:16]
        g.log_fields = {}

    @app.after_request
    def log_request(response: Response):
        if request.path in ("/healthz", "/readyz") and response.status_code == 200:
            return response
        response.headers["X-Request-ID"] = g.get("request_id", "")
        # The secret path segment never reaches a log line.
        path = "/pro/<secret>" if request.path.startswith("/pro/") else request.path
        fields = {"request_id": g.get("request_id"), "method": request.method, "path": path,
                  "status": response.status_code, "remote": request.remote_addr,
                  "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
                  **g.get("log_fields", {})}
        log.log(logging.INFO if response.status_code < 500 else logging.ERROR, "push request",
                extra={"fields": fields})
        return response

    @app.errorhandler(PushValidationError)
    def invalid(exc: PushValidationError):
        g.log_fields = {"rejected": exc.errors[:5]}
        message = exc.errors[0] if len(exc.errors) == 1 else f"{len(exc.errors)} problems in the request"
        return _error(exc.status, message, exc.errors)

    @app.errorhandler(RejectedByDatabase)
    def rejected(exc: RejectedByDatabase):
        g.log_fields = {"rejected": [str(exc)]}
        return _error(400, str(exc))

    @app.errorhandler(DatabaseUnavailable)
    def unavailable(exc: DatabaseUnavailable):
        g.log_fields = {"error": str(exc)}
        return _error(503, "database unavailable, nothing was stored: retry later")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        messages = {
            404: f"unknown path {request.path if not request.path.startswith('/pro/') else '/pro/<secret>'}",
            405: f"method {request.method} not allowed here",
            413: f"request body larger than the limit of {config.max_body_bytes} bytes",
        }
        return _error(exc.code or 500, messages.get(exc.code, exc.description or exc.name))

    @app.errorhandler(Exception)
    def crashed(exc: Exception):
        log.exception("unhandled error", extra={"fields": {"request_id": g.get("request_id")}})
        return _error(500, "internal error, nothing was acknowledged: retry later")

    return app
