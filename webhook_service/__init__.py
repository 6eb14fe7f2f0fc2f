"""Tracksolid / Jimi IoT-Hub push receiver (SPEC §5): a Flask app that stores every acknowledged push.

``create_app()`` builds it from the environment (:mod:`webhook_service.config`); gunicorn serves
``webhook_service.wsgi:app`` with ``webhook_service/gunicorn.conf.py`` in production.
"""

from webhook_service.app import create_app
from webhook_service.config import WebhookConfig

__all__ = ["WebhookConfig", "create_app"]
