"""The project wiring on top of the apps: settings, URLs, WSGI, the Celery app, the assembly of
the admin API and its OpenAPI document, logging."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
