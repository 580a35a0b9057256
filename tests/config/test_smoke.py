"""A quick cross-section that also runs on the embedded default (SQLite): `make test` runs
the files marked `smoke` a second time without DATABASE_URL."""

import pytest
from django.urls import reverse

from audit.chain import first_break
from audit.models import AuditEvent
from keys.models import Key

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_admin_creates_a_key_and_the_chain_holds(admin_client, org):
    response = admin_client.post(
        reverse("keys:new"),
        {"name": "smoke", "type": "standard", "limit_period": "monthly", "nonce": "n1"},
    )
    assert response.status_code == 200
    key = Key.objects.get(org=org, name="smoke")
    assert key.display_prefix.encode() in response.content
    assert (
        AuditEvent.objects.filter(org=org, action="key.created", target_id=str(key.pk)).count() == 1
    )
    assert first_break(org) is None


def test_keys_page_lists_keys(admin_client, key):
    response = admin_client.get(reverse("keys:list"))
    assert response.status_code == 200
    assert key.preview in response.content.decode()


def test_gateway_authorizes_and_records_usage(org, settings, client):
    import json
    from decimal import Decimal

    from billing.ledger.models import ModelPrice, Wallet
    from billing.limits.models import Counter
    from tests.factories import make_key

    settings.GATEWAY_TOKENS = ["smoke-token"]
    ModelPrice.objects.create(
        model="m",
        input_per_million=Decimal("1"),
        output_per_million=Decimal("2"),
        max_output_tokens=100,
    )
    Wallet.objects.create(org=org, balance_micros=10_000_000)
    key, plaintext = make_key(org, name="gw", monthly_spend_cap=Decimal("5"), rpm_limit=10)
    headers = {"HTTP_X_GATEWAY_TOKEN": "smoke-token"}

    allowed = client.post(
        "/api/v1/gateway/authorize",
        data=json.dumps({"model": "m", "max_tokens": 10}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plaintext}",
        HTTP_X_REQUEST_ID="r1",
        **headers,
    )
    recorded = client.post(
        "/api/v1/gateway/usage",
        content_type="application/json",
        **headers,
        data=json.dumps(
            {
                "request_id": "r1",
                "key_id": str(key.pk),
                "model": "m",
                "input_tokens": 1000,
                "output_tokens": 500,
                "status_code": 200,
                "occurred_at": "2026-01-01T00:00:00Z",
            }
        ),
    )

    assert allowed.status_code == 200, allowed.content
    assert recorded.status_code == 201, recorded.content
    assert Counter.objects.get(key=key, kind="month").spend_micros == 2000
    assert Wallet.objects.get(org=org).balance_micros == 10_000_000 - 2000
    assert Wallet.objects.get(org=org).held_micros == 0
