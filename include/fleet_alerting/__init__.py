"""Notifications, failure callbacks and Deadline Alerts shared by every DAG.

* :mod:`fleet_alerting.notify` — ``send_notification(subject, body, severity=...)`` through the SMTP and chat
  webhook connections (contract C1).
"""
