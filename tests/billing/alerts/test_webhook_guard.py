"""Alert webhooks reach public receivers only (no server-side request forgery)."""

import pytest

from billing.alerts import webhook_guard
from billing.alerts.models import Alert
from tests.billing.alerts.test_alerts_webhook import NOW, key_at, use_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def guarded(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.0.0.5/hook",
        "https://192.168.1.20/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/hook",
    ],
)
def test_loopback_private_and_link_local_receivers_are_refused(guarded, url):
    assert "not a public address" in webhook_guard.refusal(url)


def test_a_public_receiver_is_allowed(guarded):
    assert webhook_guard.refusal("https://8.8.8.8/hook") is None


def test_a_host_that_does_not_resolve_is_refused(guarded):
    assert "cannot be resolved" in webhook_guard.refusal("https://no-such-host.invalid/hook")


def test_the_settings_form_shows_the_refusal_beside_the_field(guarded, admin_client, org):
    response = admin_client.post(
        "/billing/alerts/settings/", {"webhook_url": "http://127.0.0.1:9/hook", "email": "on"}
    )

    assert response.status_code == 200
    assert "not a public address" in response.context["form"].errors["webhook_url"][0]


def test_delivery_to_a_url_that_became_private_is_refused_and_recorded(
    settings, org, django_capture_on_commit_callbacks
):
    from billing import alerts

    use_webhook(org, "http://127.0.0.1:9/hook")  # saved while private receivers were allowed
    key_at(org, "85")
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False

    with django_capture_on_commit_callbacks(execute=True):
        alerts.evaluate(now=NOW)

    alert = Alert.objects.get(org=org)
    assert alert.webhook_delivered_at is None
    assert "not a public address" in alert.webhook_last_error
