"""GET and PATCH /api/v1/keys/{id}: one key of the org (another org's is a 404, always); a
PATCH changes only the fields it names and writes one `key.updated` event."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from keys.models import Key
from tests.factories import make_key
from tests.support.api import error_of, events

pytestmark = pytest.mark.django_db


def test_it_shows_one_key(api, key):
    response = api.get(f"/api/v1/keys/{key.pk}")

    assert response.status_code == 200
    assert response.json()["name"] == "billing-prod"
    assert response.json()["preview"] == key.preview


def test_it_shows_a_deleted_key_as_deleted(api, org, key):
    Key.objects.filter(pk=key.pk).update(status="deleted")

    assert api.get(f"/api/v1/keys/{key.pk}").json()["status"] == "deleted"


def test_another_orgs_key_is_a_404_for_every_method(api, other_org, other_org_key):
    path = f"/api/v1/keys/{other_org_key.pk}"
    calls = [
        api.get(path),
        api.patch(path, {"name": "mine-now"}),
        api.delete(path),
        api.post(f"{path}/rotate"),
        api.post(f"{path}/disable"),
        api.post(f"{path}/enable"),
        api.get(f"{path}/usage"),
        api.post("/api/v1/keys/batch", {"action": "disable", "keys": [str(other_org_key.pk)]}),
    ]

    for response in calls:
        assert response.status_code == 404, response.request["PATH_INFO"]
        assert error_of(response)["code"] == "not_found"
    other_org_key.refresh_from_db()
    assert (other_org_key.name, other_org_key.status) == ("globex-prod", "active")
    assert events(other_org, "key.updated") == []


def test_patch_changes_only_the_fields_it_names(api, org, team, admin_token):
    key, _ = make_key(
        org,
        name="billing-prod",
        team=team,
        user_id="svc",
        model_scope=("gpt-4o",),
        monthly_spend_cap=Decimal("100"),
        rpm_limit=60,
    )

    response = api.patch(
        f"/api/v1/keys/{key.pk}", {"name": "billing-live", "limits": {"rpm_limit": 120}}
    )

    assert response.status_code == 200
    assert response.json()["name"] == "billing-live"
    key.refresh_from_db()
    assert (key.name, key.rpm_limit) == ("billing-live", 120)
    assert (key.team, key.user_id, key.model_scope) == (team, "svc", ["gpt-4o"])
    assert key.monthly_spend_cap == Decimal("100")
    (event,) = events(org, "key.updated")
    assert event.changes == {
        "name": {"before": "billing-prod", "after": "billing-live"},
        "rpm_limit": {"before": 60, "after": 120},
    }
    assert event.actor_type == "admin_token"
    assert event.actor_id == str(admin_token.pk)


def test_patch_null_clears_a_limit_and_the_team(api, org, key):
    Key.objects.filter(pk=key.pk).update(rpm_limit=60)

    response = api.patch(f"/api/v1/keys/{key.pk}", {"team": None, "limits": {"rpm_limit": None}})

    assert response.status_code == 200
    key.refresh_from_db()
    assert (key.team_id, key.rpm_limit) == (None, None)
    assert len(events(org, "key.updated")) == 1


def test_patch_that_changes_nothing_writes_no_event(api, org, key):
    response = api.patch(f"/api/v1/keys/{key.pk}", {"name": "billing-prod"})

    assert response.status_code == 200
    assert events(org, "key.updated") == []


def test_patch_refuses_null_for_a_required_field(api, org, key):
    response = api.patch(f"/api/v1/keys/{key.pk}", {"name": None})

    assert response.status_code == 422
    assert error_of(response)["param"] == "name"
    assert Key.objects.get(pk=key.pk).name == "billing-prod"


def test_patch_validates_the_whole_key_after_the_change(api, org, key):
    response = api.patch(f"/api/v1/keys/{key.pk}", {"type": "profile"})

    assert response.status_code == 422
    assert error_of(response)["param"] == "profile"
    assert Key.objects.get(pk=key.pk).type == "standard"
    assert events(org, "key.updated") == []


def test_patch_keeps_a_past_expiry_it_does_not_touch(api, org, key):
    past = timezone.now() - timedelta(days=1)
    Key.objects.filter(pk=key.pk).update(expires_at=past)

    response = api.patch(f"/api/v1/keys/{key.pk}", {"name": "renamed"})

    assert response.status_code == 200
    assert response.json()["status"] == "expired"


def test_a_deleted_key_cannot_be_changed(api, org, key):
    Key.objects.filter(pk=key.pk).update(status="deleted")

    response = api.patch(f"/api/v1/keys/{key.pk}", {"name": "zombie"})

    assert response.status_code == 409
    assert error_of(response)["code"] == "key_action_refused"
    assert Key.objects.get(pk=key.pk).name == "billing-prod"
