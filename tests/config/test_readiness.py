"""/readyz: the process and its database answer (config/health.py). One primary-key SELECT
on the request's connection, JSON for machines, and a 503 when the database does not answer."""

import pytest
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper

pytestmark = pytest.mark.django_db


def test_ready_answers_ok_with_one_primary_key_select(client, django_assert_num_queries):
    with django_assert_num_queries(1) as queries:
        response = client.get("/readyz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "django_migrations" in queries.captured_queries[0]["sql"]
    # A machine route, as /healthz: no browser policy is built for it.
    assert "Content-Security-Policy" not in response


def test_ready_answers_503_when_the_database_does_not(client, monkeypatch):
    def unavailable(self, sql, params=None):
        raise OperationalError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", unavailable)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "unavailable", "database": "unavailable"}


def test_health_still_touches_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.json() == {"status": "ok"}
