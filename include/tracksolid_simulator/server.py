"""``SimulatorServer``: the simulator's WSGI app served by werkzeug in a background thread on loopback."""

from __future__ import annotations

import threading
from datetime import datetime

from werkzeug.serving import WSGIRequestHandler, make_server

from tracksolid_simulator.api import SimulatorApp
from tracksolid_simulator.config import SimulatorConfig
from tracksolid_simulator.faults import FaultSpec
from tracksolid_simulator.fleet import Fleet


class _QuietHandler(WSGIRequestHandler):
    """No per-request access log lines (the request log keeps what matters, without secrets)."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class SimulatorServer:
    """Start with :meth:`start` (returns the base URL), stop with :meth:`stop`, or use as a context manager.

    ``url`` is the API endpoint (``base + "/route/rest"``). ``request_log`` lists every API call: method,
    imei_count, params (without sign / tokens / password hash), code, http_status, at, fault, account, rows.
    """

    def __init__(self, fleet: Fleet | None = None, cfg: SimulatorConfig | None = None) -> None:
        if fleet is None:
            fleet = Fleet(cfg or SimulatorConfig())
        self.fleet = fleet
        self.cfg = cfg or fleet.cfg
        self._stopping = threading.Event()
        self.app = SimulatorApp(fleet, self.cfg, self._stopping)
        self._server = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    # ----------------------------------------------------------------------------------- lifecycle --
    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        self._server = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        self._server.daemon_threads = True
        real_port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"tracksolid-sim-{real_port}",
                                        daemon=True)
        self._thread.start()
        self.base_url = f"http://{host}:{real_port}"
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes slow-fault sleepers
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------- access ---
    @property
    def url(self) -> str:
        if self.base_url is None:
            raise RuntimeError("simulator not started")
        return self.base_url + "/route/rest"

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def request_log(self) -> list[dict]:
        with self.app._lock:
            return list(self.app.request_log)

    def clear_request_log(self) -> None:
        with self.app._lock:
            self.app.request_log.clear()

    def set_faults(self, method: str, spec: FaultSpec) -> None:
        """Inject faults into ``method`` (``"*"`` = every method)."""
        self.app.faults.set(method, spec)

    def clear_faults(self, method: str | None = None) -> None:
        self.app.faults.clear(method)

    def now(self) -> datetime:
        """The simulated clock."""
        return self.app.clock.now()

    def set_clock(self, moment: datetime, speed: float | None = None) -> None:
        self.app.clock.set(moment, speed)

    @property
    def truth(self):
        return self.fleet.truth

    def credentials(self) -> dict:
        """Everything a client needs (simulator-only random values)."""
        return {"url": self.url, "app_key": self.cfg.app_key, "app_secret": self.cfg.app_secret,
                "accounts": self.cfg.account_credentials()}
