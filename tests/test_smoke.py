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
