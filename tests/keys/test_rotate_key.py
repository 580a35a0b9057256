from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit import Actor
from gateway_console import secret
from keys import services
from keys.models import Key
from keys.services import KeyActionRefused
from tests.factories import make_key
from tests.support.api import events
from tests.support.keys import plaintext_from, plaintext_pattern

pytestmark = pytest.mark.django_db


def _rotate_url(key) -> str:
    return reverse("keys:rotate", args=[key.pk])


# The service


def test_rotate_key_gives_a_new_secret_and_forgets_the_old_hash(org, key_and_secret):
    key, old_plaintext = key_and_secret
    old_hash = key.secret_hash

    _, new_plaintext = services.rotate_key(key=key, actor=Actor.system("tests"))

    row = Key.objects.get(pk=key.pk)
    assert new_plaintext != old_plaintext
    assert secret.is_well_formed(new_plaintext)
    assert row.secret_hash == secret.secret_hash(new_plaintext)
    assert row.display_prefix == new_plaintext[:12]
    assert row.last4 == new_plaintext[-4:]
    assert row.grace_secret_hash is None
    assert row.grace_until is None
    assert row.rotated_at is not None
    assert not Key.objects.filter(secret_hash=old_hash).exists()
    assert not Key.objects.filter(grace_secret_hash=old_hash).exists()


def test_rotate_key_keeps_the_settings(org, team):
    key, _ = make_key(org, name="billing-prod", team=team, model_scope=("gpt-4o",), rpm_limit=60)

    services.rotate_key(key=key, actor=Actor.system("tests"))

    row = Key.objects.get(pk=key.pk)
    assert (row.name, row.team, row.model_scope, row.rpm_limit) == (
        "billing-prod",
        team,
        ["gpt-4o"],
        60,
    )


def test_rotate_key_with_grace_keeps_the_old_hash_until_grace_until(org, key_and_secret):
    key, old_plaintext = key_and_secret
    before = timezone.now()

    services.rotate_key(key=key, actor=Actor.system("tests"), grace_hours=6)

    row = Key.objects.get(pk=key.pk)
    assert row.grace_secret_hash == secret.secret_hash(old_plaintext)
    assert before + timedelta(hours=6) <= row.grace_until <= timezone.now() + timedelta(hours=6)
    assert row.in_grace


def test_rotate_key_records_key_rotated_with_grace_data(org, key):
    old_preview = key.preview

    rotated, _ = services.rotate_key(key=key, actor=Actor.system("tests"), grace_hours=24)

    [event] = events(org, "key.rotated")
    assert event.target_id == str(key.pk)
    assert event.changes == {"preview": {"before": old_preview, "after": rotated.preview}}
    assert event.data["grace_hours"] == 24
    assert event.data["old_secret_valid_until"] == rotated.grace_until.isoformat()


def test_rotate_key_without_grace_records_no_valid_until(org, key):
    services.rotate_key(key=key, actor=Actor.system("tests"))

    [event] = events(org, "key.rotated")
    assert event.data == {"grace_hours": 0, "old_secret_valid_until": None}


def test_rotate_key_refuses_more_than_24_hours_of_grace(org, key):
    with pytest.raises(KeyActionRefused):
        services.rotate_key(key=key, actor=Actor.system("tests"), grace_hours=25)

    assert Key.objects.get(pk=key.pk).secret_hash == key.secret_hash
    assert events(org, "key.rotated") == []


def test_rotate_key_refuses_a_deleted_key(org, key):
    services.delete_key(key=key, actor=Actor.system("tests"))

    with pytest.raises(KeyActionRefused):
        services.rotate_key(key=key, actor=Actor.system("tests"))

    assert Key.objects.get(pk=key.pk).secret_hash == key.secret_hash
    assert events(org, "key.rotated") == []


def test_rotating_again_drops_the_previous_grace_secret(org, key_and_secret):
    key, first = key_and_secret
    _, second = services.rotate_key(key=key, actor=Actor.system("tests"), grace_hours=1)

    services.rotate_key(key=key, actor=Actor.system("tests"))

    row = Key.objects.get(pk=key.pk)
    assert row.grace_secret_hash is None
    hashes = {secret.secret_hash(first), secret.secret_hash(second)}
    assert not Key.objects.filter(secret_hash__in=hashes).exists()
    assert not Key.objects.filter(grace_secret_hash__in=hashes).exists()


# The rotate page


def test_get_shows_the_confirmation_and_changes_nothing(admin_client, org, key):
    response = admin_client.get(_rotate_url(key))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Rotate “billing-prod”?" in html
    assert key.preview in html
    assert 'name="nonce"' in html
    assert not plaintext_pattern().search(html)
    assert Key.objects.get(pk=key.pk).secret_hash == key.secret_hash
    assert events(org, "key.rotated") == []


def test_admin_rotates_and_sees_the_new_secret_once(admin_client, org, key_and_secret):
    key, old_plaintext = key_and_secret

    response = admin_client.post(_rotate_url(key), {"grace_hours": "0", "nonce": "r1"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    plaintext = plaintext_from(response)
    html = response.content.decode()
    assert plaintext != old_plaintext
    assert old_plaintext not in html
    assert html.count(plaintext) == 1
    assert "The old secret has stopped working." in html
    row = Key.objects.get(pk=key.pk)
    assert row.secret_hash == secret.secret_hash(plaintext)
    assert row.grace_secret_hash is None
    [event] = events(org, "key.rotated")
    assert event.actor_label == "admin@example.com"
    assert event.data["grace_hours"] == 0


def test_admin_rotates_with_a_grace_period(admin_client, org, key_and_secret):
    key, old_plaintext = key_and_secret

    response = admin_client.post(_rotate_url(key), {"grace_hours": "24", "nonce": "r1"})

    assert response.status_code == 200
    row = Key.objects.get(pk=key.pk)
    assert row.grace_secret_hash == secret.secret_hash(old_plaintext)
    assert row.grace_until > timezone.now() + timedelta(hours=23, minutes=59)
    assert "The old secret keeps working until" in response.content.decode()
    [event] = events(org, "key.rotated")
    assert event.data["grace_hours"] == 24
    assert event.data["old_secret_valid_until"] == row.grace_until.isoformat()


def test_25_hours_of_grace_is_refused_by_the_form(admin_client, org, key):
    response = admin_client.post(_rotate_url(key), {"grace_hours": "25", "nonce": "r1"})

    assert response.status_code == 200
    assert response.context["form"].errors["grace_hours"]
    assert 'id="id_grace_hours-error"' in response.content.decode()
    assert Key.objects.get(pk=key.pk).secret_hash == key.secret_hash
    assert events(org, "key.rotated") == []
    assert not plaintext_pattern().search(response.content.decode())


def test_negative_grace_is_refused_by_the_form(admin_client, org, key):
    response = admin_client.post(_rotate_url(key), {"grace_hours": "-1", "nonce": "r1"})

    assert response.status_code == 200
    assert response.context["form"].errors["grace_hours"]
    assert events(org, "key.rotated") == []


def test_reposting_the_same_rotation_does_not_rotate_twice(admin_client, org, key):
    first = admin_client.post(_rotate_url(key), {"grace_hours": "0", "nonce": "r1"})
    plaintext = plaintext_from(first)
    after_first = Key.objects.get(pk=key.pk).secret_hash

    again = admin_client.post(_rotate_url(key), {"grace_hours": "0", "nonce": "r1"})

    assert again.status_code == 302
    assert again["Location"] == reverse("keys:detail", args=[key.pk])
    assert Key.objects.get(pk=key.pk).secret_hash == after_first
    assert len(events(org, "key.rotated")) == 1
    page = admin_client.get(again["Location"]).content.decode()
    assert "already shown once" in page
    assert plaintext not in page


def test_a_new_rotation_form_rotates_again(admin_client, org, key):
    admin_client.post(_rotate_url(key), {"grace_hours": "0", "nonce": "r1"})
    admin_client.post(_rotate_url(key), {"grace_hours": "0", "nonce": "r2"})

    assert len(events(org, "key.rotated")) == 2


def test_deleted_key_cannot_be_rotated(admin_client, org, key):
    services.delete_key(key=key, actor=Actor.system("tests"))

    response = admin_client.post(_rotate_url(key), {"grace_hours": "0", "nonce": "r1"})

    assert response.status_code == 302
    assert response["Location"] == reverse("keys:detail", args=[key.pk])
    assert Key.objects.get(pk=key.pk).secret_hash == key.secret_hash
    assert events(org, "key.rotated") == []
    page = admin_client.get(response["Location"]).content.decode()
    assert "A deleted key cannot be rotated." in page
    assert not plaintext_pattern().search(page)


def test_member_and_auditor_get_403(member_client, auditor_client, org, key):
    for client in (member_client, auditor_client):
        assert client.get(_rotate_url(key)).status_code == 403
        assert client.post(_rotate_url(key), {"grace_hours": "0"}).status_code == 403
    assert Key.objects.get(pk=key.pk).secret_hash == key.secret_hash
    assert events(org, "key.rotated") == []


def test_admin_of_another_org_gets_404(other_org_admin_client, org, key):
    assert other_org_admin_client.get(_rotate_url(key)).status_code == 404
    response = other_org_admin_client.post(_rotate_url(key), {"grace_hours": "0"})

    assert response.status_code == 404
    assert Key.objects.get(pk=key.pk).secret_hash == key.secret_hash
