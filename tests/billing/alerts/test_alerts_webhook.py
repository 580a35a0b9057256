"""Alerts to a webhook: signed POSTs to a local receiver, retried with backoff until 2xx."""

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from audit import Actor
from billing import alerts
from billing.alerts import tasks
from billing.alerts.models import Alert
from billing.limits.models import Counter
from billing.limits.periods import period_bounds
from tests.factories import make_key

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MARCH = period_bounds("monthly", NOW, "UTC")


def use_webhook(org, url: str) -> str:
    """Saves the webhook URL the way the settings page does; returns the generated secret."""
    setting = alerts.update_alert_settings(
        org=org,
        actor=Actor.system("tests"),
        wallet_below=None,
        cap_at_80=True,
        cap_at_100=True,
        key_expiring=True,
        email=False,
        webhook_url=url,
    )
    return setting.webhook_secret


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks):
    def run(now=NOW):
        with django_capture_on_commit_callbacks(execute=True):
            return alerts.evaluate(now=now)

    return run


def key_at(org, spend: str):
    key, plaintext = make_key(org, name="billing-prod", monthly_spend_cap=Decimal("100"))
    Counter.objects.create(
        org=org,
        key=key,
        kind="month",
        period_start=MARCH[0],
        period_end=MARCH[1],
        spend_micros=int(Decimal(spend) * 1_000_000),
    )
    return key, plaintext


def test_an_alert_is_posted_once_as_signed_json(org, receiver, evaluate):
    receiver.secret = use_webhook(org, receiver.url)
    key, _ = key_at(org, "85")

    evaluate()
    evaluate(now=NOW + timedelta(minutes=1))

    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["verified"]
    assert post["path"] == "/hooks/console"
    assert post["content_type"] == "application/json"
    alert = Alert.objects.get()
    assert post["json"] == {
        "id": alert.pk,
        "org": str(org.pk),
        "kind": "key_cap",
        "subject": f"{key.pk}/monthly_spend",
        "threshold": "80",
        "message": alert.message,
        "created_at": "2026-03-20T12:00:00Z",
    }
    assert alert.webhook_delivered_at is not None
    assert (alert.webhook_attempts, alert.webhook_last_error) == (1, "")


def test_a_failing_receiver_gets_the_same_alert_again_until_it_answers_2xx(org, receiver, evaluate):
    receiver.secret = use_webhook(org, receiver.url)
    receiver.fail_first = 2
    key_at(org, "100")

    started = time.monotonic()
    evaluate()

    assert time.monotonic() - started < 5  # eager retries run inline, without the backoff waits
    assert len(receiver.posts) == 3
    assert all(post["verified"] for post in receiver.posts)
    assert len({post["json"]["id"] for post in receiver.posts}) == 1
    alert = Alert.objects.get()
    assert alert.webhook_attempts == 3
    assert alert.webhook_delivered_at is not None
    assert alert.webhook_last_error == ""


def test_delivery_gives_up_after_six_retries_and_keeps_the_error(org, receiver, evaluate):
    receiver.secret = use_webhook(org, receiver.url)
    receiver.fail_first = 100
    key_at(org, "100")

    evaluate()

    assert len(receiver.posts) == 7
    alert = Alert.objects.get()
    assert alert.webhook_delivered_at is None
    assert alert.webhook_attempts == 7
    assert alert.webhook_last_error == "The receiver answered HTTP 500."


def test_a_redirect_is_not_a_delivery(org, receiver, evaluate):
    receiver.secret = use_webhook(org, receiver.url)
    receiver.fail_first = 1
    receiver.fail_status = 307
    key_at(org, "100")

    evaluate()

    assert [post["path"] for post in receiver.posts] == ["/hooks/console"] * 2
    assert Alert.objects.get().webhook_attempts == 2


def test_an_unreachable_receiver_is_retried_and_the_error_recorded(org, evaluate):
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    use_webhook(org, f"http://127.0.0.1:{port}/hook")
    key_at(org, "100")

    evaluate()

    alert = Alert.objects.get()
    assert alert.webhook_attempts == 7
    assert alert.webhook_delivered_at is None
    assert alert.webhook_last_error == "The receiver could not be reached."


def test_no_webhook_is_posted_without_a_url(org, receiver, evaluate):
    key_at(org, "100")

    evaluate()

    assert receiver.posts == []
    assert Alert.objects.get().webhook_attempts == 0


def test_the_webhook_never_carries_the_keys_plaintext(org, receiver, evaluate):
    receiver.secret = use_webhook(org, receiver.url)
    _, plaintext = key_at(org, "100")

    evaluate()

    assert plaintext not in json.dumps(receiver.posts)


def test_a_signature_with_another_secret_does_not_verify(org, receiver, evaluate):
    use_webhook(org, receiver.url)
    receiver.secret = "not-the-secret"
    key_at(org, "100")

    evaluate()

    assert [post["verified"] for post in receiver.posts] == [False]


def test_the_delivery_task_backs_off_exponentially_up_to_six_retries():
    task = tasks.deliver_alert_webhook
    assert task.autoretry_for == (alerts.WebhookFailed,)
    assert (task.retry_backoff, task.max_retries, task.retry_backoff_max) == (True, 6, 900)
