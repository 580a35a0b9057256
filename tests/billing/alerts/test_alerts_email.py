"""Alerts by email: one message per alert to the org's owners and admins, sent once."""

import smtplib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.mail.backends.locmem import EmailBackend

from billing import alerts
from billing.alerts.models import Alert, AlertSettings
from billing.limits.models import Counter
from billing.limits.periods import period_bounds
from gateway_console.models import Role
from tests.factories import MembershipFactory, make_key

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MARCH = period_bounds("monthly", NOW, "UTC")


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks):
    def run(now=NOW):
        with django_capture_on_commit_callbacks(execute=True):
            return alerts.evaluate(now=now)

    return run


@pytest.fixture
def people(org, owner_membership, admin_membership, member_membership, auditor_membership):
    MembershipFactory(
        org=org, role=Role.ADMIN, user__email="left@example.com", user__is_active=False
    )


def key_at(org, spend: str, name="billing-prod"):
    key, plaintext = make_key(org, name=name, monthly_spend_cap=Decimal("100"))
    Counter.objects.create(
        org=org,
        key=key,
        kind="month",
        period_start=MARCH[0],
        period_end=MARCH[1],
        spend_micros=int(Decimal(spend) * 1_000_000),
    )
    return key, plaintext


def test_an_alert_is_emailed_once_to_the_active_owners_and_admins(
    org, people, evaluate, mailoutbox
):
    key, _ = key_at(org, "85")

    evaluate()
    evaluate(now=NOW + timedelta(minutes=1))

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["admin@example.com", "owner@example.com"]
    assert message.subject == (
        "[Gateway Console] Acme: Key billing-prod passed 80% of its monthly spend cap"
    )
    assert f"Key “billing-prod” ({key.preview}) passed 80% of its monthly spend cap" in message.body
    assert "$85.00 of $100.00 used (85%)" in message.body
    assert "The period ends 2026-04-01 00:00 UTC." in message.body
    assert "Organisation: Acme" in message.body
    assert Alert.objects.get().emailed_at is not None


def test_each_alert_is_its_own_message(org, people, evaluate, mailoutbox):
    key_at(org, "85", name="search-api")
    key_at(org, "100", name="indexer")

    evaluate()

    assert sorted(m.subject for m in mailoutbox) == [
        "[Gateway Console] Acme: Key indexer passed 100% of its monthly spend cap",
        "[Gateway Console] Acme: Key search-api passed 80% of its monthly spend cap",
    ]


def test_team_wallet_and_expiry_alerts_name_what_they_are_about(
    org, team, people, evaluate, mailoutbox
):
    AlertSettings.objects.create(org=org, wallet_below=Decimal("20"))
    team.spend_cap = Decimal("10")
    team.save()
    Counter.objects.create(
        org=org,
        team=team,
        kind="limit",
        period_start=MARCH[0],
        period_end=MARCH[1],
        spend_micros=9_000_000,
    )
    make_key(org, name="temp", expires_at=NOW + timedelta(days=2))

    evaluate()

    assert sorted(m.subject for m in mailoutbox) == [
        "[Gateway Console] Acme: Key temp expires on 2026-03-22",
        "[Gateway Console] Acme: Team Search passed 80% of its spend cap",
        "[Gateway Console] Acme: Wallet below $20.00",
    ]


def test_no_email_is_sent_when_email_is_off(org, people, evaluate, mailoutbox):
    AlertSettings.objects.create(org=org, email=False)
    key_at(org, "90")

    evaluate()

    assert mailoutbox == []
    assert Alert.objects.get().emailed_at is None


def test_an_email_never_contains_the_keys_plaintext(org, people, evaluate, mailoutbox):
    _, plaintext = key_at(org, "100")

    evaluate()

    assert plaintext not in mailoutbox[0].subject + mailoutbox[0].body


class FlakyBackend(EmailBackend):
    """The locmem backend, whose server refuses the second message once."""

    calls = 0

    def send_messages(self, messages):
        FlakyBackend.calls += 1
        if FlakyBackend.calls == 2:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


def test_a_failed_send_is_retried_and_sends_only_what_was_not_sent(
    org, people, evaluate, mailoutbox, settings
):
    settings.EMAIL_BACKEND = "tests.billing.alerts.test_alerts_email.FlakyBackend"
    FlakyBackend.calls = 0
    key_at(org, "85", name="search-api")
    key_at(org, "100", name="indexer")

    evaluate()

    assert FlakyBackend.calls == 3
    assert len(mailoutbox) == 2
    assert len({m.subject for m in mailoutbox}) == 2
    assert not Alert.objects.filter(emailed_at__isnull=True).exists()
