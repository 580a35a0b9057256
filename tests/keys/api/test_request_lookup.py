"""GET /api/v1/requests/{request_id}: one request of the org's request log, also after its key
was deleted (docs/contract.md section 1); another org's request is a 404."""

from datetime import UTC, datetime

import pytest

from billing.usage.models import UsageEvent
from keys.models import Key
from tests.support.api import error_of

pytestmark = pytest.mark.django_db


def _event(key, request_id="req_8c1"):
    return UsageEvent.objects.create(
        org=key.org,
        request_id=request_id,
        key=key,
        team=key.team,
        model="gpt-4o-mini",
        input_tokens=1000,
        output_tokens=200,
        cost_micros=270,
        status_code=200,
        latency_ms=830,
        occurred_at=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
    )


def test_it_finds_a_request_by_its_id(api, key):
    _event(key)

    response = api.get("/api/v1/requests/req_8c1")

    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "req_8c1"
    assert (body["key"], body["key_name"], body["key_preview"]) == (
        str(key.pk),
        "billing-prod",
        key.preview,
    )
    assert (body["model"], body["input_tokens"], body["output_tokens"]) == (
        "gpt-4o-mini",
        1000,
        200,
    )
    assert body["cost"] == "0.000270"
    assert (body["status_code"], body["latency_ms"]) == (200, 830)
    assert body["occurred_at"] == "2026-11-22T10:00:00Z"


def test_it_finds_a_request_of_a_deleted_key(api, key):
    _event(key)
    Key.objects.filter(pk=key.pk).update(status="deleted")

    response = api.get("/api/v1/requests/req_8c1")

    assert response.status_code == 200
    assert response.json()["key_status"] == "deleted"


def test_an_unknown_request_is_a_404(api, key):
    response = api.get("/api/v1/requests/req_nope")

    assert response.status_code == 404
    assert error_of(response)["message"] == "No such request; usage events are kept 400 days."


def test_another_orgs_request_is_a_404(api, other_org_key):
    _event(other_org_key)

    response = api.get("/api/v1/requests/req_8c1")

    assert response.status_code == 404
