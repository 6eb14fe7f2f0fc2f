"""Send one message through every configured notification channel (contract C1).

    send_notification(subject, body, *, severity="warning") -> list[str]

Channels, each configured by an Airflow connection (never by code):

* ``smtp`` — connection id from env ``FLEET_NOTIFY_SMTP_CONN_ID`` (default ``fleet_smtp``, type ``smtp``: host,
  port, login/password, extras ``from_email``, ``disable_tls``, ``disable_ssl``, ``timeout`` as the SMTP
  provider reads them). Recipients: env ``FLEET_NOTIFY_EMAIL_TO`` (comma list), else the connection extra
  ``to``. Sent with the SMTP provider's ``SmtpNotifier``.
* ``chat`` — connection id from env ``FLEET_NOTIFY_CHAT_CONN_ID`` (default ``fleet_chat``, type
  ``slackwebhook``): the webhook URL in the password (or host + path token), as the Slack provider reads it.
  The message is a Slack-compatible JSON POST (``{"text": ...}``), which Slack, Mattermost, Rocket.Chat and
  most chat tools accept. Sent with the Slack provider's ``SlackWebhookNotifier``.

A channel whose connection does not exist is skipped with one log line; one failing channel never stops the
other; the function never raises (it runs inside failure and deadline callbacks).
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Callable

log = logging.getLogger("fleet_alerting.notify")

SEVERITIES = ("info", "warning", "critical")
DEFAULT_SMTP_CONN_ID = "fleet_smtp"
DEFAULT_CHAT_CONN_ID = "fleet_chat"
#: Used when neither the connection (extra ``from_email``) nor env FLEET_NOTIFY_EMAIL_FROM names a sender.
DEFAULT_FROM = "fleet-airflow@localhost"


class ChannelNotConfigured(LookupError):
    """The channel's connection does not exist (or names no recipient): skip it."""


def smtp_conn_id() -> str:
    return os.environ.get("FLEET_NOTIFY_SMTP_CONN_ID") or DEFAULT_SMTP_CONN_ID


def chat_conn_id() -> str:
    return os.environ.get("FLEET_NOTIFY_CHAT_CONN_ID") or DEFAULT_CHAT_CONN_ID


def _get_connection(conn_id: str):
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ChannelNotConfigured(f"connection {conn_id!r} does not exist") from exc


def _split(value) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def format_subject(subject: str, severity: str) -> str:
    return f"[fleet {severity.upper()}] {subject}"


def send_smtp(subject: str, body: str, severity: str) -> None:
    """E-mail through the SMTP connection with the SMTP provider's notifier."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    conn_id = smtp_conn_id()
    conn = _get_connection(conn_id)
    extra = conn.extra_dejson or {}
    recipients = _split(os.environ.get("FLEET_NOTIFY_EMAIL_TO")) or _split(extra.get("to"))
    if not recipients:
        raise ChannelNotConfigured(f"no recipients: set FLEET_NOTIFY_EMAIL_TO or the extra 'to' of {conn_id!r}")
    sender = os.environ.get("FLEET_NOTIFY_EMAIL_FROM") or extra.get("from_email") or DEFAULT_FROM
    notifier = SmtpNotifier(
        to=recipients,
        from_email=sender,
        subject=format_subject(subject, severity),
        # Plain text kept as written (escaped, monospaced): the body is never rendered as a template.
        html_content=f"<pre>{html.escape(body)}</pre>",
        smtp_conn_id=conn_id,
        custom_headers={"X-Fleet-Severity": severity},
    )
    notifier.notify({})


def send_chat(subject: str, body: str, severity: str) -> None:
    """POST ``{"text": ...}`` (Slack-compatible) to the chat webhook connection."""
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    conn_id = chat_conn_id()
    _get_connection(conn_id)  # missing connection: skipped, not an error
    text = f"*{format_subject(subject, severity)}*\n{body}"
    SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=text, timeout=10).notify({})


#: Channel name -> sender, in sending order.
CHANNELS: dict[str, Callable[[str, str, str], None]] = {"smtp": send_smtp, "chat": send_chat}


def send_notification(subject: str, body: str, *, severity: str = "warning") -> list[str]:
    """Send through every configured channel; return the names of the channels that sent. Never raises."""
    if severity not in SEVERITIES:
        log.warning("unknown severity %r, sending as 'warning'", severity)
        severity = "warning"
    sent: list[str] = []
    for name, sender in CHANNELS.items():
        try:
            sender(subject, body, severity)
        except ChannelNotConfigured as exc:
            log.info("notification channel %s skipped: %s", name, exc)
        except Exception as exc:  # one channel failing never stops the other, nor the caller
            log.error("notification channel %s failed: %s: %s", name, type(exc).__name__,
                      str(exc).splitlines()[0] if str(exc) else "")
        else:
            sent.append(name)
    log.info("notification %r (%s) sent via %s", subject, severity, ", ".join(sent) or "no channel")
    return sent
