from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from audit import Actor
from keys import services
from keys.models import Key
from keys.services import KeyActionRefused, KeySettings
from tests.factories import TeamFactory, make_key
from tests.support.api import events

pytestmark = pytest.mark.django_db


def _edit_url(key) -> str:
    return reverse("keys:edit", args=[key.pk])


def _as_browser_sends(response) -> dict:
    """The edit form's data exactly as the page renders it, as a browser would send it back."""
    data = {}
    for bound in response.context["form"]:
        value = bound.field.widget.format_value(bound.value())
        if isinstance(value, list):
            value = value[0] if value else ""
        data[bound.html_name] = "" if value is None else str(value)
    return data


# The service


def test_update_key_records_before_and_after_of_changed_fields_only(org, team, other_team):
    key, _ = make_key(org, name="billing-prod", team=team, rpm_limit=60, user_id="svc-1")

    services.update_key(
        key=key,
        actor=Actor.system("tests"),
        settings_=KeySettings(name="billing-prod", team=other_team, rpm_limit=120, user_id="svc-1"),
    )

    [event] = events(org, "key.updated")
    assert event.target_id == str(key.pk)
    assert event.changes == {
        "team": {"before": "Search", "after": "Platform"},
        "rpm_limit": {"before": 60, "after": 120},
    }
    row = Key.objects.get(pk=key.pk)
    assert (row.team, row.rpm_limit) == (other_team, 120)


def test_update_key_with_no_change_records_no_event(org, team):
    key, _ = make_key(org, name="billing-prod", team=team, model_scope=("gpt-4o",))
    updated_at = Key.objects.get(pk=key.pk).updated_at

    services.update_key(
        key=key,
        actor=Actor.system("tests"),
        settings_=KeySettings(name="billing-prod", team=team, model_scope=("gpt-4o",)),
    )

    assert events(org, "key.updated") == []
    assert Key.objects.get(pk=key.pk).updated_at == updated_at


def test_update_key_refuses_a_deleted_key(org, key):
    services.delete_key(key=key, actor=Actor.system("tests"))

    with pytest.raises(KeyActionRefused):
        services.update_key(
            key=key, actor=Actor.system("tests"), settings_=KeySettings(name="renamed")
        )

    assert Key.objects.get(pk=key.pk).name == "billing-prod"
    assert events(org, "key.updated") == []


def test_update_key_refuses_a_team_of_another_org(org, other_org, key):
    foreign = TeamFactory(org=other_org, name="Foreign")

    with pytest.raises(KeyActionRefused):
        services.update_key(
            key=key, actor=Actor.system("tests"), settings_=KeySettings(name="x", team=foreign)
        )

    assert Key.objects.get(pk=key.pk).name == "billing-prod"
    assert events(org, "key.updated") == []


def test_update_key_does_not_touch_the_secret(org, key):
    services.update_key(key=key, actor=Actor.system("tests"), settings_=KeySettings(name="x"))

    row = Key.objects.get(pk=key.pk)
    assert (row.secret_hash, row.display_prefix, row.last4) == (
        key.secret_hash,
        key.display_prefix,
        key.last4,
    )


# The edit page


def test_edit_page_shows_the_current_settings(admin_client, key):
    response = admin_client.get(_edit_url(key))

    assert response.status_code == 200
    assert 'value="billing-prod"' in response.content.decode()


def test_admin_renames_a_key(admin_client, org, key):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data["name"] = "billing-staging"

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 302
    assert response["Location"] == reverse("keys:detail", args=[key.pk])
    assert Key.objects.get(pk=key.pk).name == "billing-staging"
    [event] = events(org, "key.updated")
    assert event.changes == {"name": {"before": "billing-prod", "after": "billing-staging"}}
    assert event.actor_label == "admin@example.com"


def test_admin_changes_limits_and_scope(admin_client, org, key):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data.update(model_scope="gpt-4o\ngpt-4o-mini", monthly_spend_cap="50", token_limit="1000")

    admin_client.post(_edit_url(key), data)

    row = Key.objects.get(pk=key.pk)
    assert row.model_scope == ["gpt-4o", "gpt-4o-mini"]
    assert row.monthly_spend_cap == Decimal("50")
    assert row.token_limit == 1000
    [event] = events(org, "key.updated")
    assert set(event.changes) == {"model_scope", "monthly_spend_cap", "token_limit"}
    assert event.changes["model_scope"] == {"before": [], "after": ["gpt-4o", "gpt-4o-mini"]}
    assert event.changes["token_limit"] == {"before": None, "after": 1000}


def test_saving_the_form_unchanged_records_no_event(admin_client, org, team):
    key, _ = make_key(
        org,
        name="billing-prod",
        team=team,
        user_id="svc-1",
        model_scope=("gpt-4o", "claude-3-5-sonnet"),
        monthly_spend_cap=Decimal("100"),
        cost_limit=Decimal("12.5"),
        token_limit=5000,
        rpm_limit=60,
        type="profile",
        profile="eu-only",
        expires_at=datetime(2031, 3, 4, 5, 6, tzinfo=UTC),
    )
    data = _as_browser_sends(admin_client.get(_edit_url(key)))

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 302
    assert events(org, "key.updated") == []


def test_saving_unchanged_in_an_org_east_of_utc_keeps_the_expiry(admin_client, org):
    org.timezone = "Europe/Berlin"
    org.save()
    expires = datetime(2031, 3, 4, 5, 6, tzinfo=UTC)
    key, _ = make_key(org, name="billing-prod", expires_at=expires)
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    assert data["expires_at"] == "2031-03-04T06:06"  # shown in Berlin time

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 302
    assert Key.objects.get(pk=key.pk).expires_at == expires
    assert events(org, "key.updated") == []


def test_saving_unchanged_keeps_a_past_expiry(admin_client, org):
    """An expired key can still be renamed without choosing a new expiry."""
    past = (timezone.now() - timedelta(days=1)).replace(second=0, microsecond=0)
    key, _ = make_key(org, name="old", expires_at=past)
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data["name"] = "old-renamed"

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 302
    row = Key.objects.get(pk=key.pk)
    assert (row.name, row.expires_at) == ("old-renamed", past)
    [event] = events(org, "key.updated")
    assert set(event.changes) == {"name"}


def test_a_past_expiry_cannot_be_chosen_when_editing(admin_client, org, key):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data["expires_at"] = "2001-01-01T00:00"

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 200
    assert response.context["form"].errors["expires_at"] == ["Choose a time in the future."]
    assert Key.objects.get(pk=key.pk).expires_at is None


def test_the_same_amount_written_differently_is_not_a_change(admin_client, org):
    key, _ = make_key(org, name="capped", monthly_spend_cap=Decimal("100"))
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data["monthly_spend_cap"] = "100.00"

    admin_client.post(_edit_url(key), data)

    assert events(org, "key.updated") == []


def test_invalid_edit_shows_the_error_beside_the_field(admin_client, org, key):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data["name"] = "x" * 121

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert 'id="id_name-error"' in response.content.decode()
    assert Key.objects.get(pk=key.pk).name == "billing-prod"
    assert events(org, "key.updated") == []


def test_deleted_key_cannot_be_edited(admin_client, org, key):
    services.delete_key(key=key, actor=Actor.system("tests"))

    for response in (
        admin_client.get(_edit_url(key)),
        admin_client.post(_edit_url(key), {"name": "renamed", "type": "standard"}),
    ):
        assert response.status_code == 302
        assert response["Location"] == reverse("keys:detail", args=[key.pk])
    assert Key.objects.get(pk=key.pk).name == "billing-prod"
    assert events(org, "key.updated") == []
    page = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()
    assert "A deleted key cannot be changed." in page


def test_member_and_auditor_get_403(member_client, auditor_client, org, key):
    for client in (member_client, auditor_client):
        assert client.get(_edit_url(key)).status_code == 403
        assert client.post(_edit_url(key), {"name": "x", "type": "standard"}).status_code == 403
    assert Key.objects.get(pk=key.pk).name == "billing-prod"


def test_admin_of_another_org_gets_404(other_org_admin_client, key):
    assert other_org_admin_client.get(_edit_url(key)).status_code == 404
    response = other_org_admin_client.post(_edit_url(key), {"name": "x", "type": "standard"})

    assert response.status_code == 404
    assert Key.objects.get(pk=key.pk).name == "billing-prod"
