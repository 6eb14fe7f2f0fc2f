"""Every knob of the simulator, in one dataclass.

Secrets (app secret, account passwords) are random per config unless given: the simulator never holds a real
credential. The open questions of TRACKSOLID_API.md §9 are settings here, so tests can reproduce each variant.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime


def _random_key() -> str:
    return secrets.token_hex(16).upper()


def _random_secret() -> str:
    return secrets.token_hex(16)


@dataclass
class SimulatorConfig:
    """Configuration of one simulated Tracksolid platform (fleet + protocol behaviour).

    The fleet is deterministic for ``(seed, devices, accounts)``; everything else only changes how the
    server answers.
    """

    # --- fleet -------------------------------------------------------------------------------------
    devices: int = 160
    accounts: int = 3
    seed: int = 1
    account_prefix: str = "fleet"

    # --- credentials (simulator-only random values unless given) ---------------------------------------
    app_key: str = field(default_factory=_random_key)
    app_secret: str = field(default_factory=_random_secret)
    account_passwords: list[str] | None = None

    # --- clock ---------------------------------------------------------------------------------------
    # The simulated "now": ``clock_start`` (aware) + real elapsed seconds * ``clock_speed``.
    # None = real UTC now at server start. ``clock_speed=0`` freezes the clock.
    clock_start: datetime | None = None
    clock_speed: float = 1.0

    # --- signature / timestamp ------------------------------------------------------------------------
    timestamp_tolerance_s: int = 600
    bad_sign_code: int = 1001
    stale_timestamp_code: int = 1001
    allow_v09_unsigned: bool = True  # v=0.9 disables signature checking (documented)
    accept_json_body: bool = False   # the platform takes form bodies; JSON is refused with 1008

    # --- tokens -------------------------------------------------------------------------------------
    token_ttl_s: int = 7200                 # upper bound of the granted expires_in
    token_get_limit: int = 10               # token.get per account per window ...
    token_get_window_s: float = 60.0        # ... beyond that: 1006
    refresh_expired_allowed: bool = True    # may an expired access token still be refreshed?
    token_get_revokes_previous: bool = False

    # --- per-method limits -----------------------------------------------------------------------------
    imei_cap: int = 50                      # IMEI-list methods: more → 220
    start_row_base: int = 0                 # track.mileage / report.parking: first row is 0 or 1
    mileage_elapsed_key: str = "runTimeSecond"  # or "elapsed" (one doc example)
    track_list_max_days: float = 7.0
    track_list_history_days: float = 92.0
    max_window_days: float = 31.0           # mileage, parking, obd, alarm windows
    alarm_row_cap: int = 1000               # alarm.list returns at most this many rows per window
    max_page_size: int = 100                # alarm.list / obd.list
    parking_report_min_s: int = 180         # shorter parking/idling spells are not reported
    track_list_delay_s: float = 0.0         # track.list is slow in production

    # --- rate limits (None = off) -------------------------------------------------------------------
    max_requests_per_s: float | None = None  # token bucket per app_key ...
    burst: int = 10                          # ... of this size
    daily_quota: int | None = None           # requests per app_key per UTC day

    # --- faults / quirks --------------------------------------------------------------------------
    location_missing_ratio: float = 0.0      # devices silently missing from location.list
    slow_response_s: float = 5.0             # default delay of a "slow" fault

    def account_names(self) -> list[str]:
        """accounts[0] is the head account, the others its sub-accounts."""
        head = f"{self.account_prefix}_head"
        return [head] + [f"{self.account_prefix}_sub{i}" for i in range(1, self.accounts)]

    def __post_init__(self) -> None:
        if self.accounts < 1 or self.devices < 0:
            raise ValueError("need at least one account and a non-negative device count")
        if self.account_passwords is None:
            self.account_passwords = [secrets.token_urlsafe(12) for _ in range(self.accounts)]
        if len(self.account_passwords) != self.accounts:
            raise ValueError("account_passwords must have one entry per account")
        if self.clock_start is not None and self.clock_start.tzinfo is None:
            raise ValueError("clock_start must be timezone-aware")

    def account_credentials(self) -> list[tuple[str, str]]:
        """``[(account, password), ...]``; the first is the head account."""
        return list(zip(self.account_names(), self.account_passwords, strict=True))

    def public_dict(self) -> dict:
        """Settings without secrets (for /_sim/config and logs)."""
        hidden = {"app_secret", "account_passwords"}
        out = {}
        for name in self.__dataclass_fields__:
            if name in hidden:
                continue
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        out["accounts_list"] = self.account_names()
        return out
