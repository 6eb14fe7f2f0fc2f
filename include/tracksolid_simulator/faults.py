"""Fault injection, per method: a probability or a scripted sequence of outcomes.

Outcomes (``kinds`` / ``sequence`` items; ints are accepted for the codes):

* ``"-1"`` system busy · ``"1004"`` token revoked mid-run (the presented token stops working) ·
  ``"1006"`` too frequent · ``"http500"`` / ``"http502"`` · ``"slow"`` (answer after ``slow_s``, past the
  client timeout) · ``"truncate"`` (cut JSON, HTTP 200) · ``"empty"`` (success with no rows, as production
  saw from report.parking) · ``"result_object"`` (the ``result`` array wrapped as ``{"list": [...]}``, as
  some integrations report) · ``"result_single"`` (a one-row ``result`` array sent as the bare row object) ·
  ``"result_scalar"`` (``result`` is a number: a shape no client can read) · ``"never_fixed"`` (location
  rows of devices that never had a fix: ``hbTime`` and status, no ``gpsTime``, lat/lng 0) ·
  ``"custom_result"`` (``result`` replaced by the spec's ``result`` JSON, for fuzzing clients) · ``"ok"`` /
  ``None`` normal answer.

``missing_ratio`` silently drops that fraction of devices from ``jimi.user.device.location.list``.
A sequence is consumed one item per request to the method; afterwards answers are normal (then
``probability`` applies, if any).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

FAULT_KINDS = ("ok", "-1", "1004", "1006", "http500", "http502", "slow", "truncate", "empty", "result_object",
               "result_single", "result_scalar", "never_fixed", "custom_result")
_ALIASES = {-1: "-1", 1004: "1004", 1006: "1006", 500: "http500", 502: "http502", "500": "http500",
            "502": "http502", "busy": "-1", "revoke": "1004", "rate": "1006", "truncated": "truncate",
            None: "ok"}


def normalize_kind(kind) -> str:
    value = _ALIASES.get(kind, kind)
    value = str(value)
    if value not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
    return value


@dataclass
class FaultSpec:
    """What goes wrong for one method (or ``"*"`` for every method)."""

    probability: float = 0.0
    kinds: tuple = ("-1",)
    sequence: list | None = None
    slow_s: float | None = None
    missing_ratio: float = 0.0
    seed: int = 0
    result: Any = None
    _used: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kinds = tuple(normalize_kind(k) for k in self.kinds)
        if self.sequence is not None:
            self.sequence = [normalize_kind(k) for k in self.sequence]
        if not 0.0 <= self.probability <= 1.0 or not 0.0 <= self.missing_ratio <= 1.0:
            raise ValueError("probability and missing_ratio must be within [0, 1]")

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("_used", None)
        out["kinds"] = list(self.kinds)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> FaultSpec:
        allowed = {"probability", "kinds", "sequence", "slow_s", "missing_ratio", "seed", "result"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown FaultSpec fields: {sorted(unknown)}")
        return cls(**data)


class FaultPlan:
    """Thread-safe registry of fault specs by method."""

    def __init__(self) -> None:
        self._specs: dict[str, FaultSpec] = {}
        self._rngs: dict[str, random.Random] = {}
        self._lock = threading.Lock()

    def set(self, method: str, spec: FaultSpec) -> None:
        with self._lock:
            spec._used = 0
            self._specs[method] = spec
            self._rngs[method] = random.Random(spec.seed)

    def clear(self, method: str | None = None) -> None:
        with self._lock:
            if method is None:
                self._specs.clear()
                self._rngs.clear()
            else:
                self._specs.pop(method, None)
                self._rngs.pop(method, None)

    def snapshot(self) -> dict:
        with self._lock:
            return {m: s.to_dict() for m, s in self._specs.items()}

    def draw(self, method: str) -> tuple[str, FaultSpec | None]:
        """The outcome for the next request to ``method`` ("ok" when nothing is injected)."""
        with self._lock:
            for key in (method, "*"):
                spec = self._specs.get(key)
                if spec is None:
                    continue
                if spec.sequence is not None and spec._used < len(spec.sequence):
                    kind = spec.sequence[spec._used]
                    spec._used += 1
                    return kind, spec
                if spec.probability > 0:
                    rng = self._rngs[key]
                    if rng.random() < spec.probability:
                        return rng.choice(spec.kinds), spec
            return "ok", None

    def missing(self, method: str) -> tuple[float, random.Random | None]:
        with self._lock:
            for key in (method, "*"):
                spec = self._specs.get(key)
                if spec is not None and spec.missing_ratio > 0:
                    return spec.missing_ratio, self._rngs[key]
            return 0.0, None
