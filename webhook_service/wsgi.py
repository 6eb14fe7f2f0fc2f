"""WSGI entry point for gunicorn: ``gunicorn -c webhook_service/gunicorn.conf.py webhook_service.wsgi:app``."""

from webhook_service.app import create_app

app = create_app()
