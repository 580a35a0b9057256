"""An admin token about to expire: its org's owners and admins are alerted once per token, 7 days
ahead at most, by the alerts of keys (billing.alerts): the console's list, email and the org's
webhook. Named by its name and preview, never its secret."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from audit import Actor
from billing import alerts
from billing.alerts import tasks
from billing.alerts.models import Alert, AlertKind, AlertSettings
from config.celery import app
from gateway_console.admin_tokens import create_admin_token, revoke_admin_token
from gateway_console.models import AdminToken
from tests.billing.alerts.test_alerts_webhook import use_webhook

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks):
    def run(now=NOW):
        with django_capture_on_commit_callbacks(execute=True):
            return alerts.evaluate(now=now)

    return run


def token_expiring_in(org, days: int, name: str = "terraform") -> tuple[AdminToken, str]:
    """A token made at NOW that lives `days` days, the way the console makes one."""
    with time_machine.travel(NOW, tick=False):
        return create_admin_token(
            org=org, actor=Actor.system(), name=name, read_only=False, expires_in_days=days
        )


def test_a_token_expiring_within_7_days_alerts_once(org, evaluate):
    token, plaintext = token_expiring_in(org, 3)

    first = evaluate()
    again = [evaluate(now=NOW + timedelta(minutes=m)) for m in (1, 2, 60)]
    next_day = evaluate(now=NOW + timedelta(days=1))

    assert len(first) == 1
    assert again == [[], [], []] and next_day == []
    alert = Alert.objects.get()
    assert (alert.kind, alert.subject, alert.threshold) == (
        "admin_token_expiring",
        str(token.pk),
        "2026-03-23",
    )
    assert alert.message.startswith(
        f"Admin token “terraform” ({token.preview}) expires in 3 days, at 2026-03-23 12:00 UTC."
    )
    assert plaintext not in alert.message
    assert token.token_hash not in alert.message


def test_the_alert_comes_when_the_token_enters_its_last_7_days(org, evaluate):
    token_expiring_in(org, 8, name="eight")

    assert evaluate() == []
    assert evaluate(now=NOW + timedelta(hours=23, minutes=59)) == []
    assert len(evaluate(now=NOW + timedelta(days=1))) == 1
    assert Alert.objects.get().message.startswith("Admin token “eight”")


def test_a_token_at_exactly_7_days_alerts(org, evaluate):
    token_expiring_in(org, 7)

    assert len(evaluate()) == 1


def test_a_revoked_or_expired_token_raises_nothing(org, evaluate):
    revoked, _ = token_expiring_in(org, 2, name="revoked")
    revoke_admin_token(token=revoked, actor=Actor.system())
    expired, _ = token_expiring_in(org, 1, name="expired")
    AdminToken.objects.filter(pk=expired.pk).update(expires_at=NOW - timedelta(minutes=1))

    assert evaluate() == []
    assert not Alert.objects.exists()


def test_a_token_revoked_after_its_alert_is_not_alerted_again(org, evaluate):
    token, _ = token_expiring_in(org, 3)
    evaluate()
    revoke_admin_token(token=token, actor=Actor.system())

    assert evaluate(now=NOW + timedelta(days=1)) == []
    assert Alert.objects.count() == 1


def test_the_expiring_alert_setting_turns_it_off(org, evaluate):
    AlertSettings.objects.create(org=org, key_expiring=False)
    token_expiring_in(org, 3)

    assert evaluate() == []


def test_each_token_alerts_its_own_org(org, other_org, evaluate):
    mine, _ = token_expiring_in(org, 2, name="mine")
    theirs, _ = token_expiring_in(other_org, 5, name="theirs")

    evaluate()

    assert set(Alert.objects.values_list("org_id", "subject")) == {
        (org.pk, str(mine.pk)),
        (other_org.pk, str(theirs.pk)),
    }


def test_the_alert_is_emailed_once_to_the_owners_and_admins(
    org,
    owner_membership,
    admin_membership,
    member_membership,
    auditor_membership,
    evaluate,
    mailoutbox,
):
    token, plaintext = token_expiring_in(org, 3)

    evaluate()
    evaluate(now=NOW + timedelta(minutes=1))

    (message,) = mailoutbox
    assert message.to == ["admin@example.com", "owner@example.com"]
    assert message.subject == "[Gateway Console] Acme: Admin token terraform expires on 2026-03-23"
    assert f"Admin token “terraform” ({token.preview}) expires in 3 days" in message.body
    assert "2026-03-23 12:00 UTC" in message.body
    assert plaintext not in message.body + message.subject


def test_the_alert_is_posted_to_the_webhook(org, receiver, evaluate):
    receiver.secret = use_webhook(org, receiver.url)
    token, plaintext = token_expiring_in(org, 6)

    evaluate()

    (post,) = receiver.posts
    assert post["verified"]
    payload = post["json"]
    assert payload["kind"] == "admin_token_expiring"
    assert payload["subject"] == str(token.pk)
    assert payload["threshold"] == "2026-03-26"
    assert token.preview in payload["message"]
    assert plaintext not in str(payload)


def test_the_alerts_page_names_the_token_and_links_to_the_tokens_page(org, admin_client, evaluate):
    token_expiring_in(org, 3)
    evaluate()

    html = admin_client.get(reverse("alerts")).content.decode()

    assert "Admin token expiring" in html
    assert "expires 2026-03-23" in html
    assert f'href="{reverse("admin-tokens")}"' in html


def test_the_minutely_beat_task_raises_it(org, django_capture_on_commit_callbacks):
    assert app.conf.beat_schedule["evaluate-alerts"]["task"] == "billing.tasks.evaluate_alerts"
    assert app.conf.beat_schedule["evaluate-alerts"]["schedule"] == 60.0
    token_expiring_in(org, 4)

    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            raised = tasks.evaluate_alerts()
        with django_capture_on_commit_callbacks(execute=True):
            again = tasks.evaluate_alerts()

    assert (raised, again) == (1, 0)
    assert Alert.objects.get().kind == AlertKind.ADMIN_TOKEN_EXPIRING
