"""fleet_alerting.notify (contract C1) against a real local SMTP server and a real HTTP chat receiver."""

from __future__ import annotations

import json

import pytest

from fleet_alerting.notify import send_notification
from tests.fixtures.notify import EMAIL_TO, ChatReceiver


def test_sends_through_both_channels(notify_receivers):
    body = "dwh_bronze.load_table [trips] failed on try 3\n<b>not html</b>"
    sent = send_notification("dwh_bronze failed", body, severity="critical")
    assert sent == ["smtp", "chat"]
    notify_receivers.wait_for(mails=1, posts=1)
    (mail,) = notify_receivers.mails
    assert mail["to"] == [EMAIL_TO]
    assert mail["from"] == "airflow@fleet.test"  # the connection's from_email extra
    assert mail["subject"] == "[fleet CRITICAL] dwh_bronze failed"
    assert mail["message"]["X-Fleet-Severity"] == "critical"
    assert "load_table [trips] failed on try 3" in mail["text"]
    assert "&lt;b&gt;not html&lt;/b&gt;" in mail["text"]  # the body is escaped, not interpreted
    (post,) = notify_receivers.posts
    assert post["path"] == "/hooks/fleet"
    assert post["body"]["text"] == f"*[fleet CRITICAL] dwh_bronze failed*\n{body}"


def test_missing_connection_is_skipped(notify_receivers, monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_FLEET_CHAT")
    with caplog.at_level("INFO", logger="fleet_alerting.notify"):
        assert send_notification("subject", "body") == ["smtp"]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped == ["notification channel chat skipped: connection 'fleet_chat' does not exist"]
    notify_receivers.wait_for(mails=1, posts=0)
    assert len(notify_receivers.mails) == 1 and notify_receivers.posts == []


def test_recipients_from_connection_extra_and_custom_conn_ids(notify_receivers, monkeypatch):
    monkeypatch.delenv("FLEET_NOTIFY_EMAIL_TO")
    monkeypatch.delenv("AIRFLOW_CONN_FLEET_SMTP")
    monkeypatch.delenv("AIRFLOW_CONN_FLEET_CHAT")
    monkeypatch.setenv("FLEET_NOTIFY_SMTP_CONN_ID", "ops_mail")
    monkeypatch.setenv("FLEET_NOTIFY_CHAT_CONN_ID", "ops_chat")
    monkeypatch.setenv("AIRFLOW_CONN_OPS_MAIL",
                       notify_receivers.smtp.conn_json(to="a@example.com, b@example.com"))
    monkeypatch.setenv("AIRFLOW_CONN_OPS_CHAT", notify_receivers.chat.conn_json())
    assert send_notification("s", "b", severity="info") == ["smtp", "chat"]
    notify_receivers.wait_for(mails=1, posts=1)
    assert notify_receivers.mails[0]["to"] == ["a@example.com", "b@example.com"]
    assert notify_receivers.posts[0]["body"]["text"].startswith("*[fleet INFO] s*")


def test_smtp_without_recipients_is_skipped(notify_receivers, monkeypatch):
    monkeypatch.delenv("FLEET_NOTIFY_EMAIL_TO")
    assert send_notification("s", "b") == ["chat"]


def test_one_failing_channel_does_not_stop_the_other(notify_receivers, monkeypatch):
    # The SMTP connection points at a closed port; the chat receiver answers 500 in the second half.
    closed = json.loads(notify_receivers.smtp.conn_json())
    closed["port"] = notify_receivers.smtp.port
    notify_receivers.smtp.stop()
    monkeypatch.setenv("AIRFLOW_CONN_FLEET_SMTP", json.dumps(closed))
    assert send_notification("s", "b") == ["chat"]

    failing = ChatReceiver(status=500).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_FLEET_CHAT", failing.conn_json())
        assert send_notification("s", "b") == []  # never raises
        assert len(failing.posts) >= 1
    finally:
        failing.stop()


@pytest.mark.parametrize("severity", ["bogus"])
def test_unknown_severity_is_sent_as_warning(notify_receivers, severity):
    assert send_notification("s", "b", severity=severity) == ["smtp", "chat"]
    notify_receivers.wait_for(mails=1, posts=1)
    assert notify_receivers.mails[0]["subject"] == "[fleet WARNING] s"
