"""Receiver settings from the environment, and the pure parsing rules (no server, no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from webhook_service.config import DEFAULT_EVENT_TIME_FIELDS, ConfigError, WebhookConfig
from webhook_service.parsing import parse_iothub, parse_pro
from webhook_service.store import payload_sha256

ENV = {"WEBHOOK_DATABASE_URL": "host=127.0.0.1 dbname=tracksolid_db", "WEBHOOK_IOTHUB_TOKEN": "a-token"}


def test_config_from_env_defaults_and_overrides():
    config = WebhookConfig.from_env(ENV)
    assert config.iothub_tokens == ("a-token",)
    assert config.pro_path_secret is None and config.max_body_bytes == 1_048_576
    assert config.event_time_fields == DEFAULT_EVENT_TIME_FIELDS
    assert (config.pool_min_size, config.pool_max_size) == (None, 4)  # min unset: the pool keeps all 4 open
    assert WebhookConfig.from_env({**ENV, "WEBHOOK_THREADS": "6", "WEBHOOK_DB_POOL_MIN": "2"}).pool_max_size == 6
    with pytest.raises(ConfigError, match="WEBHOOK_DB_POOL_MIN must not exceed"):
        WebhookConfig.from_env({**ENV, "WEBHOOK_DB_POOL_MIN": "5"})

    config = WebhookConfig.from_env({**ENV, "WEBHOOK_IOTHUB_TOKEN": "new, old", "WEBHOOK_MAX_BODY_BYTES": "5000",
                                     "WEBHOOK_DB_POOL_MAX": "8", "WEBHOOK_DB_TIMEOUT_S": "0.5",
                                     "WEBHOOK_EVENT_TIME_FIELDS": '{"/pushgps": ["gpsTime", "gateTime"], '
                                                                  '"pushoil": "time"}'})
    assert config.iothub_tokens == ("new", "old")
    assert (config.max_body_bytes, config.pool_max_size, config.pool_timeout_s) == (5000, 8, 0.5)
    assert config.event_time_fields["pushgps"] == ("gpsTime", "gateTime")
    assert config.event_time_fields["pushoil"] == ("time",)


def test_secrets_can_come_from_files(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    config = WebhookConfig.from_env({**ENV, "WEBHOOK_IOTHUB_TOKEN": "", "WEBHOOK_IOTHUB_TOKEN_FILE": str(token_file)})
    assert config.iothub_tokens == ("from-a-file",)


@pytest.mark.parametrize("env,message", [
    ({"WEBHOOK_DATABASE_URL": ""}, "WEBHOOK_DATABASE_URL is not set"),
    ({"WEBHOOK_IOTHUB_TOKEN": " , "}, "WEBHOOK_IOTHUB_TOKEN is not set"),
    ({"WEBHOOK_MAX_BODY_BYTES": "lots"}, "WEBHOOK_MAX_BODY_BYTES must be a number"),
    ({"WEBHOOK_DB_POOL_MIN": "9"}, "must not exceed"),
    ({"WEBHOOK_EVENT_TIME_FIELDS": "[1]"}, "WEBHOOK_EVENT_TIME_FIELDS must be a JSON object"),
    ({"WEBHOOK_EVENT_TIME_FIELDS": '{"pushnothing": ["t"]}'}, "unknown paths"),
    ({"WEBHOOK_TRIP_DISTANCE_UNIT": "miles"}, "WEBHOOK_TRIP_DISTANCE_UNIT"),
    ({"WEBHOOK_IOTHUB_TOKEN": "", "WEBHOOK_IOTHUB_TOKEN_FILE": "/nonexistent/token"}, "unreadable file"),
])
def test_bad_settings_fail_fast_with_the_variable_named(env, message):
    with pytest.raises(ConfigError, match=message):
        WebhookConfig.from_env({**ENV, **env})


def test_event_time_field_is_configurable():
    item = {"deviceImei": "860000000000001", "gateTime": "2025-01-01 10:00:05", "gpsTime": "", "lat": 1, "lng": 2}
    config = WebhookConfig.from_env(ENV)
    refused = parse_iothub("pushgps", json.dumps([item]), config)
    assert refused.quarantine == [{"item": 0, "reason": "missing_field", "detail": "data_list[0].gpsTime is required"}]
    assert not refused.rows
    config = WebhookConfig.from_env({**ENV, "WEBHOOK_EVENT_TIME_FIELDS": '{"pushgps": ["gpsTime", "gateTime"]}'})
    batch = parse_iothub("pushgps", json.dumps([item]), config)
    assert batch.rows["position_history"][0]["gps_time"] == datetime(2025, 1, 1, 10, 0, 5, tzinfo=UTC)


def test_guessed_fields_are_lenient_documented_fields_are_strict():
    config = WebhookConfig.from_env(ENV)
    oil = {"deviceImei": "860000000000001", "gateTime": "2025-01-01 10:00:00", "oilValue": "n/a"}
    batch = parse_iothub("pushoil", json.dumps([oil]), config)
    assert batch.rows["fuel_readings"][0]["fuel_value"] is None  # unknown format: kept raw, column empty
    assert batch.rows["fuel_readings"][0]["raw"] == oil
    strict = parse_iothub("pushhb", json.dumps([{"deviceImei": "860000000000001", "gateTime": "2025-01-01 10:00:00",
                                                 "powerLevel": "full"}]), config)
    assert strict.quarantine[0]["reason"] == "invalid_value"
    assert "data_list[0].powerLevel must be a number" in strict.quarantine[0]["detail"]


def test_trip_distance_unit_setting():
    trip = {"deviceImei": "860000000000001", "startTime": "2025-01-01 10:00:00", "distance": "2500"}
    metres = parse_iothub("pushtripreport", json.dumps([trip]), WebhookConfig.from_env(ENV))
    km = parse_iothub("pushtripreport", json.dumps([trip]),
                      WebhookConfig.from_env({**ENV, "WEBHOOK_TRIP_DISTANCE_UNIT": "km"}))
    assert metres.rows["push_trip_reports"][0]["distance_km"] == Decimal("2.5")
    assert km.rows["push_trip_reports"][0]["distance_km"] == Decimal("2500")


def test_pro_data_may_be_one_object_or_a_list():
    config = WebhookConfig.from_env(ENV)
    alarm = {"imei": "860000000000001", "alarmType": "1", "alarmName": "SOS", "alarmTime": "2025-01-01 10:00:00"}
    assert parse_pro("jimi.push.device.alarm", json.dumps(alarm), config).item_count == 1
    assert len(parse_pro("jimi.push.device.alarm", json.dumps([alarm, alarm]), config).rows["alarms"]) == 2


def test_payload_hash_ignores_field_order_but_not_content():
    a = payload_sha256("/pushgps", {"data_list": ["[1]"], "x": ["1"]})
    assert a == payload_sha256("/pushgps", {"x": ["1"], "data_list": ["[1]"]})
    assert a != payload_sha256("/pushhb", {"data_list": ["[1]"], "x": ["1"]})
    assert a != payload_sha256("/pushgps", {"data_list": ["[2]"], "x": ["1"]})
