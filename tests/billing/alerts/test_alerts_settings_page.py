"""The alert settings page: owners and admins change, auditors read, members get 403."""

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from billing.alerts.models import AlertSettings

pytestmark = pytest.mark.django_db

URL = "/billing/alerts/settings/"
REGENERATE_URL = "/billing/alerts/settings/webhook-secret/"
WEBHOOK = "https://hooks.example.com/console"
FORM = {
    "wallet_below": "50",
    "cap_at_100": "on",
    "key_expiring": "on",
    "email": "on",
    "webhook_url": WEBHOOK,
}


def audit_rows(org):
    return list(AuditEvent.objects.filter(org=org, action="alerts.updated").order_by("seq"))


def test_the_url_is_named():
    assert reverse("alert-settings") == URL
    assert reverse("alert-webhook-secret") == REGENERATE_URL


@pytest.mark.parametrize("client_name", ["owner_client", "admin_client"])
def test_owners_and_admins_get_the_form_with_defaults(request, client_name):
    response = request.getfixturevalue(client_name).get(URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Save alert settings" in body
    assert response.context["form"].initial["cap_at_80"] is True
    assert "A secret is generated when a webhook URL is saved." in body


def test_admin_saves_the_settings_with_one_audit_event_without_the_secret(admin_client, org):
    response = admin_client.post(URL, FORM)

    assert response.status_code == 302
    setting = AlertSettings.objects.get(org=org)
    assert (str(setting.wallet_below), setting.cap_at_80, setting.cap_at_100) == (
        "50.000000",
        False,
        True,
    )
    assert setting.webhook_url == WEBHOOK
    assert len(setting.webhook_secret) == 64
    [event] = audit_rows(org)
    assert event.actor_label == "admin@example.com"
    assert event.changes == {
        "wallet_below": {"before": None, "after": "50.000000"},
        "cap_at_80": {"before": True, "after": False},
        # Scheme and host only: the path is often the webhook's secret.
        "webhook_url": {"before": "", "after": "https://hooks.example.com/…"},
        "webhook_secret": {"before": None, "after": "generated"},
    }
    stored = json.dumps([event.changes, event.data, event.target_label])
    assert setting.webhook_secret not in stored


def test_saving_unchanged_settings_writes_no_event(admin_client, org):
    admin_client.post(URL, FORM)
    admin_client.post(URL, FORM)

    assert len(audit_rows(org)) == 1


def test_the_secret_is_shown_to_admins_and_the_page_is_not_cached(admin_client, org):
    admin_client.post(URL, FORM)
    secret = AlertSettings.objects.get(org=org).webhook_secret

    response = admin_client.get(URL)

    assert f'<code id="webhook-secret">{secret}</code>' in response.content.decode()
    assert 'name="wallet_below" value="50.00"' in response.content.decode()
    assert "no-store" in response["Cache-Control"]


def test_an_auditor_reads_the_settings_but_not_the_secret(admin_client, auditor_client, org):
    admin_client.post(URL, FORM)
    secret = AlertSettings.objects.get(org=org).webhook_secret

    response = auditor_client.get(URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert secret not in body
    assert "Save alert settings" not in body
    assert all(field.disabled for field in response.context["form"].fields.values())
    assert WEBHOOK in body


def test_an_auditor_cannot_save(auditor_client, org):
    response = auditor_client.post(URL, FORM)

    assert response.status_code == 403
    assert not AlertSettings.objects.filter(org=org).exists()
    assert audit_rows(org) == []


def test_a_member_gets_403(member_client, org):
    assert member_client.get(URL).status_code == 403
    assert member_client.post(URL, FORM).status_code == 403
    assert member_client.get("/billing/alerts/").status_code == 403
    assert not AlertSettings.objects.filter(org=org).exists()


def test_a_visitor_is_sent_to_sign_in(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_bad_values_are_shown_beside_their_field_and_change_nothing(admin_client, org):
    response = admin_client.post(
        URL, {**FORM, "wallet_below": "-5", "webhook_url": "ftp://files.example.com/"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"wallet_below", "webhook_url"}
    assert response.context["form"].errors["webhook_url"] == [
        "Use an https:// (or http://) address."
    ]
    assert 'id="field-webhook_url"' in response.content.decode()
    assert not AlertSettings.objects.filter(org=org).exists()


def test_another_orgs_admin_sees_their_own_settings_not_ours(
    admin_client, other_org_admin_client, org
):
    admin_client.post(URL, FORM)
    secret = AlertSettings.objects.get(org=org).webhook_secret

    body = other_org_admin_client.get(URL).content.decode()

    assert secret not in body
    assert WEBHOOK not in body


def test_regenerating_the_secret_asks_first(admin_client, org):
    admin_client.post(URL, FORM)
    secret = AlertSettings.objects.get(org=org).webhook_secret

    response = admin_client.get(REGENERATE_URL)

    assert response.status_code == 200
    assert "Regenerate the secret" in response.content.decode()
    assert AlertSettings.objects.get(org=org).webhook_secret == secret


def test_regenerating_replaces_the_secret_with_one_audit_event(admin_client, org):
    admin_client.post(URL, FORM)
    old = AlertSettings.objects.get(org=org).webhook_secret

    response = admin_client.post(REGENERATE_URL)

    assert response.status_code == 302
    new = AlertSettings.objects.get(org=org).webhook_secret
    assert new != old and len(new) == 64
    event = audit_rows(org)[-1]
    assert event.changes == {"webhook_secret": {"before": None, "after": "regenerated"}}
    stored = json.dumps([event.changes, event.data])
    assert old not in stored and new not in stored
    assert new in admin_client.get(URL).content.decode()


def test_regenerating_without_a_webhook_url_is_refused(admin_client, org):
    response = admin_client.post(REGENERATE_URL, follow=True)

    assert "Set a webhook URL first" in response.content.decode()
    assert audit_rows(org) == []


@pytest.mark.parametrize("client_name", ["auditor_client", "member_client"])
def test_only_owners_and_admins_regenerate(request, client_name, admin_client, org):
    admin_client.post(URL, FORM)
    secret = AlertSettings.objects.get(org=org).webhook_secret
    client = request.getfixturevalue(client_name)

    assert client.get(REGENERATE_URL).status_code == 403
    assert client.post(REGENERATE_URL).status_code == 403
    assert AlertSettings.objects.get(org=org).webhook_secret == secret
