import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_console.settings")

app = Celery("gateway_console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "forget-ended-rotation-grace": {
        "task": "keys.tasks.forget_ended_rotation_grace",
        "schedule": 300.0,
    },
    "release-expired-holds": {
        "task": "billing.tasks.release_expired_holds",
        "schedule": 60.0,
    },
    "clear-expired-sessions": {
        "task": "gateway_console.tasks.clear_expired_sessions",
        "schedule": crontab(minute=17, hour=3),
    },
}
