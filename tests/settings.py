"""Test settings: the real settings with DEBUG off, plus what a test run needs."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-3f9a1c7e5b2d4f6a8c0e")
os.environ.setdefault("KEY_PEPPER", "test-key-pepper-not-for-production")
os.environ.setdefault("DEBUG", "0")

from config.settings import *  # noqa: F403

ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
# Tests talk plain HTTP to the test client and the live server.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# A __Host- cookie must be Secure: over plain HTTP the plain names.
SESSION_COOKIE_NAME = "sessionid"
CSRF_COOKIE_NAME = "csrftoken"
SECURE_HSTS_SECONDS = 0
# Argon2 is deliberately slow; tests that are about passwords set it back (see test_sign_in).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]  # noqa: F405
CELERY_TASK_ALWAYS_EAGER = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The tests' webhook receivers listen on 127.0.0.1; test_webhook_guard turns this off again.
ALERT_WEBHOOK_ALLOW_PRIVATE = True
# Gateway traffic figures are added to the database only when a test flushes them (query
# counts of authorize stay exact); the end-to-end console process sets its own interval.
GATEWAY_TRAFFIC_FLUSH_SECONDS = float(os.environ.get("GATEWAY_TRAFFIC_FLUSH_SECONDS", "3600"))
