import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("gateway_console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "keep-hygiene-scores": {
        "task": "keys.tasks.keep_hygiene_scores",
        "schedule": crontab(minute=41),
    },
    "forecast-alerts": {
        "task": "billing.tasks.forecast_alerts",
        "schedule": crontab(minute=23),
    },
    "lapse-temporary-increases": {
        "task": "keys.tasks.lapse_increases",
        "schedule": 60.0,
    },
    "forget-ended-rotation-grace": {
        "task": "keys.tasks.forget_ended_rotation_grace",
        "schedule": 300.0,
    },
    # Authorize never waits for it (an ended period counts as zero); the interval is an
    # environment variable so that a test can watch a real beat run it within seconds.
    "reset-periods-due": {
        "task": "billing.tasks.reset_periods_due",
        "schedule": float(os.environ.get("RESET_PERIODS_EVERY_SECONDS", "60")),
    },
    "release-expired-holds": {
        "task": "billing.tasks.release_expired_holds",
        "schedule": 60.0,
    },
    # Raises each alert once per threshold per period (the Alert unique constraint), so running
    # it often, or on two workers, sends nothing twice.
    "evaluate-alerts": {
        "task": "billing.tasks.evaluate_alerts",
        "schedule": 60.0,
    },
    "clear-expired-sessions": {
        "task": "gateway_console.tasks.clear_expired_sessions",
        "schedule": crontab(minute=17, hour=3),
    },
    # Daily: usage events, sign-in logs, show-once nonces, alerts and findings past their
    # retention (config.retention), in batches of short transactions; never the audit log.
    "prune-past-retention": {
        "task": "config.tasks.prune",
        "schedule": crontab(minute=37, hour=3),
    },
    # Daily, at a quiet hour (CELERY_TIMEZONE is UTC): balance = sum(ledger), counters = usage.
    "reconcile-wallets": {
        "task": "billing.tasks.reconcile_wallets",
        "schedule": crontab(minute=0, hour=4),
    },
    # Signs each audit chain's new head into AUDIT_ANCHOR_DIR, outside the database (audit.anchor);
    # a head already written is not written again.
    "anchor-audit-chains": {
        "task": "audit.tasks.anchor_chains",
        "schedule": float(os.environ.get("AUDIT_ANCHOR_EVERY_SECONDS", "600")),
    },
}
