"""Known-answer tests of the request signature (TRACKSOLID_API.md §2, official doc "Signature").

The first vector is the official document's own worked example (jimi.oauth.token.get): its inputs, as
printed in the document, give the document's printed signature. The second was computed by hand from
the algorithm: it has an empty-valued parameter (must be dropped), non-ASCII text (UTF-8) and an
upper-case name (byte-order sort puts it first).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tracksolid_hook.signing import (
    api_timestamp,
    clean_params,
    password_md5,
    sign,
    signed_params,
    signing_string,
)

DOC_SECRET = "c0aa0226fddc4365a3c67fef45427f8a"
DOC_PARAMS = {
    "app_key": "8FB345B8693CCD00CE073CAB5F094009339A22A4105B6558",
    "expires_in": "7200",
    "format": "json",
    "method": "jimi.oauth.token.get",
    "sign_method": "md5",
    "timestamp": "2025-05-19 10:23:00",
    "user_id": "JMTEST123",
    "user_pwd_md5": "21218cca77804d2ba1922c33e0151105",
    "v": "1.0",
}


def test_official_document_example():
    assert sign(DOC_PARAMS, DOC_SECRET) == "4EE067D88EA65FF2AFD4890955E042CB"


def test_official_document_example_signing_string_layout():
    text = signing_string(DOC_PARAMS, DOC_SECRET)
    assert text == (
        DOC_SECRET
        + "app_key8FB345B8693CCD00CE073CAB5F094009339A22A4105B6558expires_in7200formatjson"
        + "methodjimi.oauth.token.getsign_methodmd5timestamp2025-05-19 10:23:00user_idJMTEST123"
        + "user_pwd_md521218cca77804d2ba1922c33e0151105v1.0"
        + DOC_SECRET
    )


def test_sort_and_concatenate_example_of_the_document():
    # Doc: foo=1, bar=2, foo_bar=3, foobar=4 → "bar2foo1foo_bar3foobar4", wrapped with the secret.
    params = {"foo": "1", "bar": "2", "foo_bar": "3", "foobar": "4"}
    assert signing_string(params, "secret") == "secretbar2foo1foo_bar3foobar4secret"
    assert sign(params, "secret") == "4B4AC0F2D69BA521FFDE55A2BBEE3025"


HAND_PARAMS = {
    "method": "jimi.user.device.list",
    "timestamp": "2024-01-02 03:04:05",
    "app_key": "APPKEY123",
    "sign_method": "md5",
    "v": "1.0",
    "format": "json",
    "access_token": "tok",
    "target": "粤B3604 Nairobi",
    "map_type": "",
    "Zone": 2,
    "sign": "must-be-ignored",
}


def test_hand_computed_vector_with_empty_value_and_non_ascii():
    # By hand: drop map_type (empty) and sign; byte order puts "Zone" (upper-case Z) first.
    expected_string = (
        "s3cr3t" "Zone2" "access_tokentok" "app_keyAPPKEY123" "formatjson" "methodjimi.user.device.list"
        "sign_methodmd5" "target粤B3604 Nairobi" "timestamp2024-01-02 03:04:05" "v1.0" "s3cr3t"
    )
    assert signing_string(HAND_PARAMS, "s3cr3t") == expected_string
    assert sign(HAND_PARAMS, "s3cr3t") == "BB4D940F5C1C9E099DF5E094AC0CE574"


def test_signature_is_upper_case_32_hex():
    value = sign({"a": "1"}, "k")
    assert len(value) == 32 and value == value.upper()
    assert value == hashlib.md5(b"ka1k").hexdigest().upper()


def test_empty_and_none_values_are_neither_signed_nor_sent():
    cleaned = clean_params({"a": "", "b": None, "c": 0, "d": "x"})
    assert cleaned == {"c": "0", "d": "x"}
    assert sign({"a": "", "b": None, "d": "x"}, "k") == sign({"d": "x"}, "k")


def test_password_md5_is_lower_case():
    assert password_md5("secret") == hashlib.md5(b"secret").hexdigest()
    assert password_md5("secret") == password_md5("secret").lower()


def test_timestamp_is_utc_24_hour():
    eat = timezone(timedelta(hours=3))
    assert api_timestamp(datetime(2024, 6, 1, 23, 30, 5, tzinfo=eat)) == "2024-06-01 20:30:05"
    assert api_timestamp(datetime(2024, 6, 1, 15, 0, 0, tzinfo=UTC)) == "2024-06-01 15:00:00"
    with pytest.raises(ValueError):
        api_timestamp(datetime(2024, 6, 1, 15, 0, 0))  # naive: refused


def test_signed_params_carry_common_parameters_and_a_valid_signature():
    moment = datetime(2024, 6, 1, 15, 0, 0, tzinfo=UTC)
    request = signed_params("jimi.user.device.list", {"target": "acc", "map_type": None},
                            app_key="K", app_secret="S", access_token="T", clock=lambda: moment)
    assert request["timestamp"] == "2024-06-01 15:00:00"
    assert {k: request[k] for k in ("method", "app_key", "sign_method", "v", "format", "access_token")} == {
        "method": "jimi.user.device.list", "app_key": "K", "sign_method": "md5", "v": "1.0",
        "format": "json", "access_token": "T",
    }
    assert "map_type" not in request
    unsigned = {k: v for k, v in request.items() if k != "sign"}
    assert request["sign"] == sign(unsigned, "S")


def test_each_signing_uses_a_fresh_timestamp():
    moments = iter([datetime(2024, 6, 1, 15, 0, 0, tzinfo=UTC), datetime(2024, 6, 1, 15, 0, 3, tzinfo=UTC)])
    first = signed_params("m", {}, app_key="K", app_secret="S", clock=lambda: next(moments))
    second = signed_params("m", {}, app_key="K", app_secret="S", clock=lambda: next(moments))
    assert first["timestamp"] != second["timestamp"]
    assert first["sign"] != second["sign"]
