"""Provider registration: makes the ``tracksolid`` connection type known to Airflow.

Declared in pyproject.toml as the ``apache_airflow_provider`` entry point. The form is described
declaratively (``conn-fields`` + ``ui-field-behaviour``, Airflow 3.2+), so the UI needs no hook import.
"""

from __future__ import annotations

PACKAGE_NAME = "tracksolid-fleet"
HOOK_CLASS = "tracksolid_hook.hook.TracksolidHook"


def _field(label: str, kind: str | list[str], description: str, default=None, **schema) -> dict:
    types = kind if isinstance(kind, list) else [kind]
    spec = {"type": [*types, "null"], **schema}
    if default is not None:
        spec["default"] = default
    return {"label": label, "schema": spec, "description": description}


CONN_FIELDS = {
    "app_key": _field("App key", "string", "appKey issued by Jimi."),
    "app_secret": _field("App secret", "string", "appSecret issued by Jimi (signs every request).",
                         format="password"),
    "targets": _field("Account targets", "array", "Accounts whose devices are ingested (default: the login).",
                      items={"type": "string"}),
    "batch_size": _field("Batch size", "integer", "IMEIs per call.", 50, minimum=1, maximum=100),
    "token_ttl_s": _field("Token TTL (s)", "integer", "expires_in asked for a token.", 7200,
                          minimum=60, maximum=7200),
    "max_requests_per_s": _field("Max requests per second", "number",
                                 "Client-side rate shared by every worker (kept strictly under).", 4,
                                 exclusiveMinimum=0),
    "timeout_s": _field("Timeout (s)", "number", "HTTP timeout per attempt.", 60, exclusiveMinimum=0),
    "token_refresh_margin_s": _field("Token refresh margin (s)", "integer",
                                     "Renew the token this long before it expires.", 300, minimum=0),
    "max_attempts": _field("Max attempts", "integer", "Attempts per call for retryable faults.", 6, minimum=1),
    "retry_budget_s": _field("Retry budget (s)", "number", "Longest time one call may spend retrying.", 300),
    "backoff_base_s": _field("Backoff base (s)", "number", "First backoff; doubles per attempt.", 0.5),
    "backoff_cap_s": _field("Backoff cap (s)", "number", "Longest single backoff.", 30),
    "acc_type_values": _field("acc_type values", "object",
                              'Values sent for parking/idling, e.g. {"off": "0", "on": "1"}.',
                              {"off": "off", "on": "on"}),
    "start_row_base": _field("start_row base", "integer", "First start_row of paged reports (0 or 1).", 0,
                             minimum=0, maximum=1),
    "sign_error_codes": _field("Sign error codes", "array",
                               "API codes meaning bad signature/stale timestamp: re-sign once.",
                               items={"type": "integer"}),
}


def get_provider_info() -> dict:
    return {
        "package-name": PACKAGE_NAME,
        "name": "Tracksolid Pro",
        "description": "Tracksolid Pro (Jimi IoT) open API: the `tracksolid` connection type and its hook.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "Tracksolid Pro",
                "external-doc-url": "https://tracksolidprodocs.jimicloud.com/integration/integration.html",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Tracksolid Pro", "python-modules": ["tracksolid_hook.hook"]}],
        "connection-types": [
            {
                "connection-type": "tracksolid",
                "hook-class-name": HOOK_CLASS,
                "hook-name": "Tracksolid Pro",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "Regional endpoint",
                        "login": "Account",
                        "password": "Account password",
                    },
                    "placeholders": {
                        "host": "https://eu-open.tracksolidpro.com/route/rest",
                        "login": "Tracksolid account (user_id)",
                    },
                },
            }
        ],
    }
