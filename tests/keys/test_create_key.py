from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit import Actor
from gateway_console import secret
from keys import services
from keys.models import Key, KeyStatus, SecretShown
from keys.services import KeyActionRefused, KeySettings
from tests.factories import TeamFactory
from tests.support.api import events
from tests.support.keys import plaintext_from, plaintext_pattern

pytestmark = pytest.mark.django_db

NEW = "/keys/new/"


def _field_errors(response, field: str) -> list[str]:
    return [str(e) for e in response.context["form"].errors.get(field, [])]


# The service


def test_create_key_stores_only_the_hash_prefix_and_last4(org, team):
    key, plaintext = services.create_key(
        org=org, actor=Actor.system("tests"), settings_=KeySettings(name="billing-prod", team=team)
    )

    row = Key.objects.get(pk=key.pk)
    assert secret.is_well_formed(plaintext)
    assert row.secret_hash == secret.secret_hash(plaintext)
    assert row.display_prefix == plaintext[:12]
    assert row.last4 == plaintext[-4:]
    assert row.status == KeyStatus.ACTIVE
    assert row.grace_secret_hash is None
    values = [str(field.value_from_object(row)) for field in Key._meta.concrete_fields]
    assert not any(plaintext in value for value in values)
    assert not any(plaintext[12:-4] in value for value in values)


def test_create_key_records_one_key_created_event(org, team):
    key, plaintext = services.create_key(
        org=org,
        actor=Actor.system("tests"),
        settings_=KeySettings(
            name="billing-prod", team=team, model_scope=("gpt-4o",), rpm_limit=60
        ),
    )

    [event] = events(org)
    assert event.action == "key.created"
    assert event.target_type == "key"
    assert event.target_id == str(key.pk)
    assert event.changes["name"] == {"before": None, "after": "billing-prod"}
    assert event.changes["team"] == {"before": None, "after": "Search"}
    assert event.changes["model_scope"] == {"before": None, "after": ["gpt-4o"]}
    assert event.changes["rpm_limit"] == {"before": None, "after": 60}
    assert plaintext not in str(event.changes) + str(event.data) + event.target_label


def test_create_key_refused_leaves_no_key_and_no_event(org, other_org):
    foreign_team = TeamFactory(org=other_org, name="Foreign")

    with pytest.raises(KeyActionRefused):
        services.create_key(
            org=org,
            actor=Actor.system("tests"),
            settings_=KeySettings(name="x", team=foreign_team),
        )

    assert not Key.objects.exists()
    assert events(org) == []


def test_create_key_event_is_in_the_same_transaction(org, monkeypatch):
    """If recording the event fails, the key is not created either."""
    import audit

    def broken_record(**kwargs):
        assert connection.in_atomic_block
        raise RuntimeError("audit down")

    monkeypatch.setattr(audit, "record", broken_record)

    with pytest.raises(RuntimeError):
        services.create_key(org=org, actor=Actor.system("tests"), settings_=KeySettings(name="x"))

    assert not Key.objects.exists()


# The new-key page


def test_admin_creates_a_key_and_sees_it_once(admin_client, org, team, key_form):
    response = admin_client.post(
        NEW,
        key_form(
            team=str(team.pk), model_scope="gpt-4o, claude-3-5-sonnet", rpm_limit="60", nonce="n1"
        ),
    )

    assert response.status_code == 200
    key = Key.objects.get(org=org)
    plaintext = plaintext_from(response)
    assert key.secret_hash == secret.secret_hash(plaintext)
    assert key.team == team
    assert key.model_scope == ["gpt-4o", "claude-3-5-sonnet"]
    assert key.rpm_limit == 60
    assert key.created_by == admin_client.membership.user
    assert "no-store" in response["Cache-Control"]
    assert key.preview in response.content.decode()
    [event] = events(org)
    assert event.action == "key.created"
    assert event.actor_label == "admin@example.com"
    assert event.actor_role == "admin"


def test_owner_can_create_a_key(owner_client, org, key_form):
    response = owner_client.post(NEW, key_form(nonce="n1"))

    assert response.status_code == 200
    assert Key.objects.filter(org=org).count() == 1


def test_admin_creates_a_profile_key(admin_client, org, key_form):
    response = admin_client.post(NEW, key_form(type="profile", profile="eu-only", nonce="n1"))

    assert response.status_code == 200
    key = Key.objects.get(org=org)
    assert (key.type, key.profile) == ("profile", "eu-only")


def test_admin_creates_a_key_with_limits_and_expiry(admin_client, org, key_form):
    expires = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")

    response = admin_client.post(
        NEW,
        key_form(
            monthly_spend_cap="100.50",
            cost_limit="20",
            token_limit="1000000",
            limit_period="monthly",
            expires_at=expires,
            nonce="n1",
        ),
    )

    assert response.status_code == 200
    key = Key.objects.get(org=org)
    assert key.monthly_spend_cap == Decimal("100.50")
    assert key.cost_limit == Decimal("20")
    assert key.token_limit == 1_000_000
    assert key.expires_at.strftime("%Y-%m-%dT%H:%M") == expires
    assert not key.is_legacy


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "   "}, "name", "This field is required."),
        ({"name": "x" * 121}, "name", "at most 120 characters"),
        ({"type": "profile", "profile": ""}, "profile", "needs the routing profile"),
        ({"type": "profile", "profile": "eu only!"}, "profile", "Use letters, digits"),
        ({"type": "standard", "profile": "eu-only"}, "profile", "Only profile keys"),
        ({"model_scope": "gpt-4o, bad model!"}, "model_scope", "is not a model name"),
        ({"model_scope": "-gpt"}, "model_scope", "is not a model name"),
        ({"monthly_spend_cap": "-5"}, "monthly_spend_cap", "greater than or equal to 0.01"),
        ({"monthly_spend_cap": "0"}, "monthly_spend_cap", "greater than or equal to 0.01"),
        ({"cost_limit": "0"}, "cost_limit", "greater than or equal to 0.01"),
        ({"token_limit": "0"}, "token_limit", "greater than or equal to 1"),
        ({"token_limit": "-1"}, "token_limit", "greater than or equal to 1"),
        ({"rpm_limit": "0"}, "rpm_limit", "greater than or equal to 1"),
        ({"rpm_limit": "-10"}, "rpm_limit", "greater than or equal to 1"),
        ({"expires_at": "2001-01-01T00:00"}, "expires_at", "Choose a time in the future."),
    ],
)
def test_invalid_form_shows_the_error_beside_the_field_and_creates_nothing(
    admin_client, org, key_form, overrides, field, message
):
    response = admin_client.post(NEW, key_form(nonce="n1", **overrides))

    assert response.status_code == 200
    errors = _field_errors(response, field)
    assert any(message in error for error in errors), errors
    html = response.content.decode()
    # Beside the field: inside the field's own wrapper, as an error paragraph.
    wrapper = html.split(f'id="field-{field}"', 1)[1].split('<div class="field', 1)[0]
    assert 'class="error"' in wrapper
    assert 'class="field has-error"' in html.split(f'id="field-{field}"', 1)[0].rsplit("<div", 1)[1]
    assert not Key.objects.exists()
    assert not SecretShown.objects.exists()
    assert events(org) == []
    assert not plaintext_pattern().search(html)


def test_expires_at_in_the_past_is_refused_in_the_orgs_time_zone(admin_client, org, key_form):
    org.timezone = "Pacific/Kiritimati"  # UTC+14
    org.save()
    # A wall-clock time that is in the future in UTC but already past in Kiritimati.
    wall = (timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")

    response = admin_client.post(NEW, key_form(expires_at=wall, nonce="n1"))

    assert response.status_code == 200
    assert _field_errors(response, "expires_at") == ["Choose a time in the future."]
    assert not Key.objects.exists()


def test_team_from_another_org_is_not_selectable(admin_client, org, team, other_org, key_form):
    foreign = TeamFactory(org=other_org, name="Foreign")

    page = admin_client.get(NEW).content.decode()
    assert str(team.pk) in page
    assert str(foreign.pk) not in page
    assert "Foreign" not in page

    response = admin_client.post(NEW, key_form(team=str(foreign.pk), nonce="n1"))

    assert response.status_code == 200
    assert any("valid choice" in error for error in _field_errors(response, "team"))
    assert not Key.objects.exists()
    assert events(org) == []
    assert events(other_org) == []


def test_show_once_response_cannot_be_cached(admin_client, key_form):
    response = admin_client.post(NEW, key_form(nonce="n1"))

    cache_control = response["Cache-Control"]
    assert "no-store" in cache_control
    assert "private" in cache_control
    assert "max-age=0" in cache_control
    assert "public" not in cache_control


def test_show_once_page_shows_the_plaintext_exactly_once(admin_client, key_form):
    response = admin_client.post(NEW, key_form(nonce="n1"))

    plaintext = plaintext_from(response)
    assert response.content.decode().count(plaintext) == 1
    assert plaintext_pattern().findall(response.content.decode()) == [plaintext]


def test_reposting_the_same_form_creates_no_second_key_and_does_not_show_the_secret(
    admin_client, org, key_form
):
    data = key_form(nonce="reload-me")
    first = admin_client.post(NEW, data)
    plaintext = plaintext_from(first)
    key = Key.objects.get(org=org)

    again = admin_client.post(NEW, data)

    assert again.status_code == 302
    assert again["Location"] == reverse("keys:detail", args=[key.pk])
    assert Key.objects.filter(org=org).count() == 1
    assert len(events(org, "key.created")) == 1
    assert plaintext not in again.content.decode()
    page = admin_client.get(again["Location"])
    html = page.content.decode()
    assert "already shown once" in html
    assert plaintext not in html
    assert not plaintext_pattern().search(html)


def test_reposting_with_changed_fields_but_the_same_nonce_creates_nothing(
    admin_client, org, key_form
):
    admin_client.post(NEW, key_form(nonce="reload-me"))

    again = admin_client.post(NEW, key_form(name="another", nonce="reload-me"))

    assert again.status_code == 302
    assert list(Key.objects.values_list("name", flat=True)) == ["billing-prod"]


def test_each_form_has_its_own_nonce(admin_client, org, key_form):
    first_page = admin_client.get(NEW)
    second_page = admin_client.get(NEW)
    assert first_page.context["nonce"] != second_page.context["nonce"]

    admin_client.post(NEW, key_form(name="a", nonce=first_page.context["nonce"]))
    admin_client.post(NEW, key_form(name="b", nonce=second_page.context["nonce"]))

    assert sorted(Key.objects.values_list("name", flat=True)) == ["a", "b"]


def test_get_of_the_new_key_page_never_shows_a_plaintext(admin_client, key_and_secret):
    _, existing_plaintext = key_and_secret

    response = admin_client.get(NEW)

    assert response.status_code == 200
    html = response.content.decode()
    assert existing_plaintext not in html
    assert not plaintext_pattern().search(html)
    assert 'name="nonce"' in html


def test_get_of_the_new_key_page_creates_nothing(admin_client, org):
    admin_client.get(NEW)

    assert not Key.objects.exists()
    assert events(org) == []


def test_member_gets_403(member_client, org, key_form):
    assert member_client.get(NEW).status_code == 403
    assert member_client.post(NEW, key_form(nonce="n1")).status_code == 403
    assert not Key.objects.exists()
    assert events(org) == []


def test_auditor_gets_403(auditor_client, org, key_form):
    assert auditor_client.get(NEW).status_code == 403
    assert auditor_client.post(NEW, key_form(nonce="n1")).status_code == 403
    assert not Key.objects.exists()


def test_anonymous_is_redirected_to_sign_in(client, org, key_form):
    response = client.get(NEW)
    assert response.status_code == 302
    assert response["Location"] == reverse("sign-in") + "?next=/keys/new/"

    response = client.post(NEW, key_form(nonce="n1"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("sign-in"))
    assert not Key.objects.exists()


def test_keys_are_created_in_the_admins_current_org(
    other_org_admin_client, org, other_org, key_form
):
    other_org_admin_client.post(NEW, key_form(nonce="n1"))

    assert Key.objects.get().org == other_org
    assert events(org) == []


def test_new_key_page_preselects_the_team_from_the_query(admin_client, team):
    response = admin_client.get(NEW + f"?team={team.pk}")

    assert response.context["form"]["team"].value() == str(team.pk)


def test_expires_at_is_read_in_the_orgs_time_zone(admin_client, org, key_form):
    org.timezone = "Europe/Berlin"
    org.save()

    admin_client.post(NEW, key_form(expires_at="2030-07-01T12:00", nonce="n1"))

    key = Key.objects.get(org=org)
    assert key.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") == "2030-07-01 10:00"
