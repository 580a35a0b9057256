"""Tokens per minute and requests in flight in the key form, the team form and the admin API,
and on the key and team pages against their use now."""

import pytest
from django.urls import reverse

from billing.limits import ratelimit
from keys.models import Key
from tests.keys.test_edit_key import _as_browser_sends, _edit_url
from tests.support.api import error_of, events

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def per_process(settings):
    settings.REDIS_URL = ""


def _hold(bucket: str, tokens: int) -> str:
    flow = ratelimit.Flow(
        request_id=f"req_{bucket.replace(':', '_')}_{tokens}",
        tokens=tokens,
        ttl_ms=60_000,
        token_windows=((bucket, 10**9),),
        in_flight=((bucket, 10**5),),
    )
    assert ratelimit.hit([], flow=flow).allowed
    return flow.request_id


def test_the_key_form_saves_both_limits_with_one_audit_event(admin_client, org, key):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data.update(tpm_limit="40000", max_in_flight="8")

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.tpm_limit, key.max_in_flight) == (40_000, 8)
    [event] = events(org, "key.updated")
    assert event.changes == {
        "tpm_limit": {"before": None, "after": 40_000},
        "max_in_flight": {"before": None, "after": 8},
    }


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("tpm_limit", "0", "greater than or equal to 1"),
        ("tpm_limit", "1000000001", "less than or equal to 1000000000"),
        ("max_in_flight", "ten", "Enter a whole number."),
    ],
)
def test_the_key_form_names_a_bad_limit_beside_its_field(admin_client, key, field, typed, message):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data[field] = typed

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="field-{field}"' in page
    assert message in page
    assert Key.objects.filter(pk=key.pk, tpm_limit=None, max_in_flight=None).exists()


def test_the_key_page_shows_both_limits_against_their_use_now(admin_client, key):
    Key.objects.filter(pk=key.pk).update(tpm_limit=50_000, max_in_flight=4)
    _hold(ratelimit.key_bucket(key.pk), 1_100)
    _hold(ratelimit.key_bucket(key.pk), 900)

    page = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    assert "<strong>2,000</strong> of 50,000 per minute in the last 60 seconds" in page
    assert "<strong>2</strong> of 4 at once now" in page
    assert 'id="needs-usage-reports"' in page
    assert "usage_reports_required" in page


def test_a_key_without_them_says_nothing_of_usage_reports(admin_client, key):
    page = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    assert 'id="needs-usage-reports"' not in page
    assert "Tokens per minute</dt><dd>—" in page


def test_the_team_form_and_page_show_the_teams_limits(admin_client, org, team):
    response = admin_client.post(
        reverse("team-edit", args=[team.pk]),
        {"name": team.name, "limit_period": "monthly", "tpm_limit": "90000", "max_in_flight": "20"},
    )

    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.tpm_limit, team.max_in_flight) == (90_000, 20)
    [event] = events(org, "team.updated")
    assert event.changes["max_in_flight"] == {"before": None, "after": 20}
    _hold(ratelimit.team_bucket(team.pk), 3_000)
    page = admin_client.get(reverse("team-detail", args=[team.pk])).content.decode()
    assert "<strong>3,000</strong> of 90,000 per minute in the last 60 seconds" in page
    assert "<strong>1</strong> of 20 at once now" in page
    assert 'id="needs-usage-reports"' in page


def test_the_team_form_refuses_a_zero_beside_the_field(admin_client, team):
    response = admin_client.post(
        reverse("team-edit", args=[team.pk]),
        {"name": team.name, "limit_period": "monthly", "max_in_flight": "0"},
    )

    assert response.status_code == 200
    assert 'id="field-max_in_flight"' in response.content.decode()
    team.refresh_from_db()
    assert team.max_in_flight is None


def test_the_api_sets_and_clears_a_keys_limits(api, org):
    created = api.post("/api/v1/keys", {"name": "flow", "limits": {"max_in_flight": 3}})
    assert created.status_code == 201
    key_id = created.json()["id"]

    patched = api.patch(f"/api/v1/keys/{key_id}", {"limits": {"tpm_limit": 5000}})
    cleared = api.patch(f"/api/v1/keys/{key_id}", {"limits": {"max_in_flight": None}})

    assert patched.json()["limits"]["tpm_limit"] == 5000
    assert patched.json()["limits"]["max_in_flight"] == 3
    assert cleared.json()["limits"]["max_in_flight"] is None
    assert (Key.objects.get(pk=key_id).tpm_limit, Key.objects.get(pk=key_id).max_in_flight) == (
        5000,
        None,
    )
    assert error_of(api.patch(f"/api/v1/keys/{key_id}", {"limits": {"tpm_limit": 0}}))["param"] == (
        "limits.tpm_limit"
    )


def test_the_api_sets_a_teams_limits(api, org, team):
    response = api.patch(f"/api/v1/teams/{team.pk}", {"limits": {"tpm_limit": 12_000}})

    assert response.status_code == 200
    assert response.json()["limits"]["tpm_limit"] == 12_000
    team.refresh_from_db()
    assert team.tpm_limit == 12_000
