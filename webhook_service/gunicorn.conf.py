"""Production gunicorn settings for the push receiver, all overridable from the environment.

    gunicorn -c webhook_service/gunicorn.conf.py webhook_service.wsgi:app

Threads per worker overlap the database round trips; each worker process has its own connection pool
(``WEBHOOK_DB_POOL_MAX`` connections), so keep WEBHOOK_WORKERS × WEBHOOK_DB_POOL_MAX below the server's
``max_connections``.
"""

import multiprocessing
import os

bind = os.environ.get("WEBHOOK_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEBHOOK_WORKERS", multiprocessing.cpu_count() * 2 + 1))
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


def worker_exit(server, worker):
    """Close the worker's connection pool so the database sees clean disconnects."""
    try:
        from webhook_service.wsgi import app
    except Exception:  # the app never loaded (bad config): nothing to close
        return
    app.extensions["webhook_store"].close()
