"""POST /api/v1/keys/{id}/rotate|disable|enable and DELETE /api/v1/keys/{id}: each does what
the console's confirmation pages do, through the same services, with one audit event."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gateway_console import secret
from keys.models import Key
from tests.support.api import error_of, events

pytestmark = pytest.mark.django_db


def test_rotate_gives_a_new_plaintext_once_and_the_old_one_stops(api, org, key_and_secret):
    key, old = key_and_secret

    response = api.post(f"/api/v1/keys/{key.pk}/rotate")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    new = body["key"]
    assert secret.is_well_formed(new)
    assert new != old
    assert body["old_key_valid_until"] is None
    key.refresh_from_db()
    assert key.secret_hash == secret.secret_hash(new)
    assert key.grace_secret_hash is None
    (event,) = events(org, "key.rotated")
    assert event.actor_type == "admin_token"
    assert event.data["grace_hours"] == 0


def test_rotate_with_a_grace_period_keeps_the_old_secret_for_that_long(api, org, key_and_secret):
    key, old = key_and_secret
    before = timezone.now()

    response = api.post(f"/api/v1/keys/{key.pk}/rotate", {"grace_hours": 24})

    assert response.status_code == 200
    key.refresh_from_db()
    assert key.grace_secret_hash == secret.secret_hash(old)
    assert before + timedelta(hours=24) <= key.grace_until <= timezone.now() + timedelta(hours=24)
    assert response.json()["old_key_valid_until"] is not None
    assert len(events(org, "key.rotated")) == 1


@pytest.mark.parametrize("grace_hours", [-1, 25, "two"])
def test_rotate_refuses_a_grace_period_outside_0_to_24_hours(api, org, key_and_secret, grace_hours):
    key, old = key_and_secret

    response = api.post(f"/api/v1/keys/{key.pk}/rotate", {"grace_hours": grace_hours})

    assert response.status_code == 422
    assert error_of(response)["param"] == "grace_hours"
    assert Key.objects.get(pk=key.pk).secret_hash == secret.secret_hash(old)
    assert events(org, "key.rotated") == []


def test_a_deleted_key_cannot_be_rotated(api, org, key):
    Key.objects.filter(pk=key.pk).update(status="deleted")

    response = api.post(f"/api/v1/keys/{key.pk}/rotate")

    assert response.status_code == 409
    assert error_of(response)["code"] == "key_action_refused"


def test_disable_then_enable(api, org, key):
    disabled = api.post(f"/api/v1/keys/{key.pk}/disable")

    assert disabled.status_code == 200
    assert disabled.json()["status"] == "disabled"
    assert Key.objects.get(pk=key.pk).status == "disabled"
    assert len(events(org, "key.disabled")) == 1

    enabled = api.post(f"/api/v1/keys/{key.pk}/enable")

    assert enabled.status_code == 200
    assert enabled.json()["status"] == "active"
    assert len(events(org, "key.enabled")) == 1


def test_disabling_a_disabled_key_is_a_409_without_an_event(api, org, key):
    api.post(f"/api/v1/keys/{key.pk}/disable")

    response = api.post(f"/api/v1/keys/{key.pk}/disable")

    assert response.status_code == 409
    assert error_of(response)["code"] == "key_action_refused"
    assert len(events(org, "key.disabled")) == 1


def test_delete_is_permanent(api, org, key):
    response = api.delete(f"/api/v1/keys/{key.pk}")

    assert response.status_code == 200
    assert response.json()["status"] == "deleted"
    assert Key.objects.get(pk=key.pk).status == "deleted"
    (event,) = events(org, "key.deleted")
    assert event.actor_type == "admin_token"
    count = len(events(org))

    for again in (
        api.delete(f"/api/v1/keys/{key.pk}"),
        api.post(f"/api/v1/keys/{key.pk}/enable"),
    ):
        assert again.status_code == 409
    assert Key.objects.get(pk=key.pk).status == "deleted"
    assert len(events(org)) == count


def test_a_retried_rotate_with_the_same_idempotency_key_rotates_once(api, org, key):
    first = api.post(f"/api/v1/keys/{key.pk}/rotate", headers={"Idempotency-Key": "r-1"})
    again = api.post(f"/api/v1/keys/{key.pk}/rotate", headers={"Idempotency-Key": "r-1"})

    assert first.status_code == 200
    assert again.status_code == 409
    assert error_of(again)["code"] == "already_shown"
    assert Key.objects.get(pk=key.pk).secret_hash == secret.secret_hash(first.json()["key"])
    assert len(events(org, "key.rotated")) == 1
