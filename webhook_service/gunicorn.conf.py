"""Production gunicorn settings for the push receiver, all overridable from the environment.

    gunicorn -c webhook_service/gunicorn.conf.py webhook_service.wsgi:app

Sizing: a push request is CPU work in Python (form decoding, validation) and in PostgreSQL (inserts, index
upkeep), with a durable commit in between. ``cores + 1`` worker processes keep every core busy with Python
while the others wait on the database; 4 threads per worker overlap those waits. More processes only add
context switches and cache misses (on 2 cores, 5 workers x 4 threads used more CPU per request and pushed
fewer items/s than 3 x 4: ``python -m bench.bench_webhook --workers 5``). Each worker process has its own
connection pool (``WEBHOOK_DB_POOL_MAX`` connections, by default one per thread, all opened and warmed up at
start), so keep WEBHOOK_WORKERS x WEBHOOK_DB_POOL_MAX below the server's ``max_connections``.
"""

import os

#: CPUs this process may run on (respects CPU affinity / cpusets, unlike multiprocessing.cpu_count()).
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

bind = os.environ.get("WEBHOOK_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEBHOOK_WORKERS", CPUS + 1))
worker_class = "gthread"
threads = int(os.environ.get("WEBHOOK_THREADS", "4"))
# A request waits at most WEBHOOK_DB_TIMEOUT_S for a connection; the worker timeout only catches hangs.
timeout = int(os.environ.get("WEBHOOK_WORKER_TIMEOUT_S", "30"))
graceful_timeout = int(os.environ.get("WEBHOOK_GRACEFUL_TIMEOUT_S", "20"))
keepalive = int(os.environ.get("WEBHOOK_KEEPALIVE_S", "15"))
backlog = int(os.environ.get("WEBHOOK_BACKLOG", "2048"))
# Recycle workers now and then (jitter avoids all restarting at once).
max_requests = int(os.environ.get("WEBHOOK_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
# No gunicorn access log: the app logs one JSON line per request itself, and an access log line would carry
# the Tracksolid Pro push's secret path segment.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("WEBHOOK_LOG_LEVEL", "info").lower()
# Each worker builds its own app and pool after the fork (no connection is shared across processes).
preload_app = False
proc_name = "webhook_service"
forwarded_allow_ips = os.environ.get("WEBHOOK_FORWARDED_ALLOW_IPS", "127.0.0.1")


def _control_socket_path(bound_to: str) -> str:
    """gunicorn's control socket (``gunicornc``), one per instance. gunicorn's default is one path per user
    ($XDG_RUNTIME_DIR/gunicorn.ctl): a second instance on the host replaced the first one's socket and, on
    exit, deleted it. Here the path names the bind address (unique per instance on a host)."""
    configured = os.environ.get("WEBHOOK_CONTROL_SOCKET", "").strip()
    if configured:
        return configured
    runtime = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    tag = "".join(c if c.isalnum() else "_" for c in bound_to)
    return os.path.join(runtime, f"webhook_service-{tag}.ctl")


# WEBHOOK_CONTROL_SOCKET=off disables it; any other value is the path.
control_socket_disable = os.environ.get("WEBHOOK_CONTROL_SOCKET", "").strip().lower() == "off"
control_socket = _control_socket_path(bind)


def on_starting(server):
    """Name the control socket after the addresses actually bound (a ``--bind`` on the command line wins over
    WEBHOOK_BIND); the socket is created later, after the first workers started."""
    server.cfg.set("control_socket", _control_socket_path(",".join(server.cfg.bind)))


def worker_exit(server, worker):
    """Close the worker's connection pool so the database sees clean disconnects."""
    try:
        from webhook_service.wsgi import app
    except Exception:  # the app never loaded (bad config): nothing to close
        return
    app.extensions["webhook_store"].close()
