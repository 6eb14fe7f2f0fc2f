"""A minimal signed client for the simulator's own tests, CLI and benchmarks.

It is deliberately simple (no retries, no token cache): the production client is ``tracksolid_hook``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import requests

from tracksolid_simulator.protocol import API_TIME_FORMAT, md5_lower, sign_params


class SimpleClient:
    def __init__(self, url: str, app_key: str, app_secret: str, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        self.url, self.app_key, self.app_secret, self.timeout = url, app_key, app_secret, timeout
        self.session = session or requests.Session()
        self.access_token: str | None = None
        self.refresh_token: str | None = None

    def signed(self, method: str, params: dict | None = None, *, timestamp: datetime | None = None,
               with_token: bool = True) -> dict:
        form = {
            "method": method,
            "timestamp": (timestamp or datetime.now(UTC)).strftime(API_TIME_FORMAT),
            "app_key": self.app_key, "sign_method": "md5", "v": "1.0", "format": "json",
        }
        if with_token and self.access_token and method != "jimi.oauth.token.get":
            form["access_token"] = self.access_token
        form.update({k: str(v) for k, v in (params or {}).items() if v is not None})
        form["sign"] = sign_params(form, self.app_secret)
        return form

    def post(self, form: dict) -> requests.Response:
        return self.session.post(self.url, data=form, timeout=self.timeout)

    def call(self, method: str, **params) -> dict:
        """Signed call; returns the decoded envelope (raises on HTTP errors / bad JSON)."""
        response = self.post(self.signed(method, params))
        response.raise_for_status()
        return response.json()

    def login(self, account: str, password: str, expires_in: int = 7200) -> dict:
        body = self.call("jimi.oauth.token.get", user_id=account, user_pwd_md5=md5_lower(password),
                         expires_in=expires_in)
        if body.get("code") == 0:
            self.access_token = body["result"]["accessToken"]
            self.refresh_token = body["result"]["refreshToken"]
        return body

    def refresh(self, expires_in: int = 7200) -> dict:
        body = self.call("jimi.oauth.token.refresh", access_token=self.access_token,
                         refresh_token=self.refresh_token, expires_in=expires_in)
        if body.get("code") == 0:
            self.access_token = body["result"]["accessToken"]
            self.refresh_token = body["result"]["refreshToken"]
        return body
