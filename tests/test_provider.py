"""The ``tracksolid`` connection type is registered through the provider entry point."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from tracksolid_hook.provider import get_provider_info


@pytest.fixture
def tracksolid_api_env(monkeypatch):
    conn = {
        "conn_type": "tracksolid",
        "host": "https://eu-open.tracksolidpro.com/route/rest",
        "login": "head-account",
        "password": secrets.token_urlsafe(12),
        "extra": {"app_key": "K" + secrets.token_hex(8), "app_secret": secrets.token_hex(16),
                  "targets": ["head-account", "sub-a"], "batch_size": 40},
    }
    monkeypatch.setenv("AIRFLOW_CONN_TRACKSOLID_API", json.dumps(conn))
    return conn


def test_provider_info_is_valid_against_airflows_schema():
    from airflow.providers_manager import _create_provider_info_schema_validator

    info = get_provider_info()
    _create_provider_info_schema_validator().validate(info)
    assert info["package-name"] == "tracksolid-fleet"  # must equal the distribution name


def test_providers_manager_knows_the_connection_type():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    assert "tracksolid-fleet" in ProvidersManager().providers
    hook_info = ProvidersManagerTaskRuntime().hooks["tracksolid"]
    assert hook_info.hook_class_name == "tracksolid_hook.hook.TracksolidHook"
    assert hook_info.connection_id_attribute_name == "tracksolid_conn_id"
    assert hook_info.hook_name == "Tracksolid Pro"


def test_connection_form_has_labelled_fields():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    for name in ("app_key", "app_secret", "targets", "batch_size", "token_ttl_s", "max_requests_per_s",
                 "timeout_s"):
        widget = widgets[f"extra__tracksolid__{name}"]
        assert widget.field["schema"]["title"], name
    assert widgets["extra__tracksolid__app_secret"].is_sensitive
    assert widgets["extra__tracksolid__batch_size"].field["value"] == 50
    behaviour = manager.field_behaviours["tracksolid"]
    assert behaviour["relabeling"] == {"host": "Regional endpoint", "login": "Account",
                                       "password": "Account password"}


def test_get_hook_returns_a_tracksolid_hook(tracksolid_api_env):
    from airflow.sdk import BaseHook

    from tracksolid_hook import TracksolidHook

    hook = BaseHook.get_hook("tracksolid_api")
    assert isinstance(hook, TracksolidHook)
    assert hook.tracksolid_conn_id == "tracksolid_api"
    assert hook.targets == ["head-account", "sub-a"]
    assert hook.batch_size == 40
    assert hook.settings.url == "https://eu-open.tracksolidpro.com/route/rest"
    assert tracksolid_api_env["password"] not in repr(hook.settings)
    assert tracksolid_api_env["extra"]["app_secret"] not in repr(hook.settings)


def test_airflow_cli_lists_the_provider(tmp_path):
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run([airflow, "providers", "list", "-o", "json"], env=env, capture_output=True,
                         text=True, check=True, timeout=120).stdout
    listed = {p["package_name"]: p for p in json.loads(out[out.index("["):])}
    assert listed["tracksolid-fleet"]["version"] == "0.1.0"
