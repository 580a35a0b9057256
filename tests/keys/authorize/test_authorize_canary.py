"""Canary keys (keys.canary; docs/contract.md section 2): authorize answers one exactly like an
unknown key, from any address; its first use, and only that, raises a `key_canary` alert (email
to the owners and admins, the webhook) and writes `key.canary_tripped` with the address, the
user agent and the time."""

import pytest

from audit.models import AuditEvent
from billing.alerts.models import Alert
from gateway_console import secret
from keys.models import Key
from tests.factories import make_key
from tests.support.gateway import assert_denied

pytestmark = pytest.mark.django_db

WHERE = {"X-Forwarded-For": "198.51.100.23", "User-Agent": "curl/8.5.0"}


@pytest.fixture
def canary(org, owner_membership, admin_membership, member_membership):
    return make_key(org, name="aws-backup-creds", type="canary", allowed_ips=("203.0.113.0/24",))


def test_a_canary_answers_exactly_like_an_unknown_key(
    authorize, canary, django_capture_on_commit_callbacks
):
    _, planted = canary
    unknown = authorize(secret.new_secret(), headers=WHERE)

    with django_capture_on_commit_callbacks(execute=True):
        tripped = authorize(planted, headers=WHERE)

    assert_denied(tripped, 401, "invalid_api_key")
    assert tripped.json() == unknown.json()
    assert sorted(tripped.headers) == sorted(unknown.headers)


def test_its_first_use_alerts_the_owners_and_admins_once(
    authorize, org, canary, mailoutbox, django_capture_on_commit_callbacks
):
    key, secret = canary

    with django_capture_on_commit_callbacks(execute=True):
        authorize(secret, headers=WHERE)
        authorize(secret, headers={"X-Forwarded-For": "192.0.2.9"})

    (alert,) = Alert.objects.filter(org=org)
    assert (alert.kind, alert.subject) == ("key_canary", str(key.pk))
    assert "198.51.100.23" in alert.message and "curl/8.5.0" in alert.message
    (message,) = mailoutbox
    assert sorted(message.to) == ["admin@example.com", "owner@example.com"]
    assert "Canary key aws-backup-creds was used" in message.subject
    (event,) = AuditEvent.objects.filter(org=org, action="key.canary_tripped")
    assert event.target_id == str(key.pk)
    assert event.data["address"] == "198.51.100.23"
    assert event.data["user_agent"] == "curl/8.5.0"
    assert Key.objects.get(pk=key.pk).last_used_at is not None


def test_a_deleted_canary_is_an_unknown_key_and_alerts_no_more(
    authorize, org, canary, mailoutbox, django_capture_on_commit_callbacks
):
    key, secret = canary
    Key.objects.filter(pk=key.pk).update(status="deleted")

    with django_capture_on_commit_callbacks(execute=True):
        assert_denied(authorize(secret, headers=WHERE), 401, "invalid_api_key")

    assert not Alert.objects.exists()
    assert mailoutbox == []
