"""A temporary increase of a key's cap (keys.increases): set in the form and the admin API,
added to the cap at authorize until it ends, then cleared by the beat task with one
`key.increase_lapsed` event; the key page shows it and its end."""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from keys import increases
from keys.models import Key
from tests.factories import make_key
from tests.keys.test_edit_key import _as_browser_sends, _edit_url
from tests.support.api import error_of, events
from tests.support.gateway import assert_denied, set_counter

pytestmark = pytest.mark.django_db


def _raised(org, *, until, cap="monthly_spend_cap"):
    return make_key(
        org,
        name="raised",
        monthly_spend_cap=Decimal("10"),
        cost_limit=Decimal("10"),
        increase_cap=cap,
        increase_amount=Decimal("5"),
        increase_until=until,
    )


def test_authorize_adds_a_running_increase_to_its_cap(authorize, org, wallet):
    key, secret = _raised(org, until=timezone.now() + timedelta(hours=1))
    set_counter(key=key, kind="month", spend="12")

    assert authorize(secret).status_code == 200

    set_counter(key=key, kind="month", spend="15")
    assert_denied(authorize(secret), 402, "api_key_quota_exceeded", reset_at=True)


def test_an_increase_of_the_cost_limit_leaves_the_monthly_cap_alone(authorize, org, wallet):
    key, secret = _raised(org, until=timezone.now() + timedelta(hours=1), cap="cost_limit")
    set_counter(key=key, kind="limit", spend="12")
    assert authorize(secret).status_code == 200

    set_counter(key=key, kind="month", spend="10")
    assert_denied(authorize(secret), 402, "api_key_quota_exceeded", reset_at=True)


def test_an_ended_increase_adds_nothing_before_the_task_clears_it(authorize, org, wallet):
    key, secret = _raised(org, until=timezone.now() + timedelta(hours=1))
    set_counter(key=key, kind="month", spend="12")

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert_denied(authorize(secret), 402, "api_key_quota_exceeded", reset_at=True)


def test_the_lapse_clears_it_with_one_event(org):
    until = timezone.now() + timedelta(hours=1)
    key, _ = _raised(org, until=until)
    make_key(org, name="other", monthly_spend_cap=Decimal("1"))

    assert increases.lapse_increases(now=until - timedelta(seconds=1)) == 0
    assert increases.lapse_increases(now=until) == 1
    assert increases.lapse_increases(now=until) == 0

    key.refresh_from_db()
    assert (key.increase_cap, key.increase_amount, key.increase_until) == ("", None, None)
    assert key.monthly_spend_cap == Decimal("10")
    (event,) = events(org, "key.increase_lapsed")
    assert event.actor_label == "temporary increase"
    assert event.changes["increase_cap"] == {"before": "monthly_spend_cap", "after": ""}
    assert event.data == {"ended_at": until.isoformat()}


def test_the_form_sets_an_increase_in_the_orgs_time(admin_client, org, key):
    Key.objects.filter(pk=key.pk).update(monthly_spend_cap=Decimal("10"))
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    later = (timezone.now() + timedelta(days=2)).astimezone(ZoneInfo(org.timezone))
    data.update(
        increase_cap="monthly_spend_cap",
        increase_amount="25",
        increase_until=later.strftime("%Y-%m-%dT%H:%M"),
    )

    assert admin_client.post(_edit_url(key), data).status_code == 302

    key.refresh_from_db()
    assert (key.increase_cap, key.increase_amount) == ("monthly_spend_cap", Decimal("25"))
    assert key.increase_until == later.replace(second=0, microsecond=0)
    (event,) = events(org, "key.updated")
    assert event.changes["increase_amount"]["after"] == "25.000000"
    page = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()
    assert "Temporary increase" in page and "Monthly spend (raised for now)" in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"increase_cap": "cost_limit"}, "increase_cap", "Set the cost limit first"),
        ({"increase_cap": "monthly_spend_cap"}, "increase_amount", "By how much?"),
        ({"increase_amount": "5"}, "increase_cap", "Choose the cap to raise"),
        ({"increase_until": "2020-01-01T00:00"}, "increase_until", "Choose a time in the future"),
    ],
)
def test_the_form_names_what_is_missing_beside_the_field(admin_client, key, fields, field, message):
    Key.objects.filter(pk=key.pk).update(monthly_spend_cap=Decimal("10"))
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data.update(fields)

    response = admin_client.post(_edit_url(key), data)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="field-{field}"' in html and message in html
    assert Key.objects.get(pk=key.pk).increase_cap == ""


def test_the_api_sets_and_reads_an_increase(api, org):
    until = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    response = api.post(
        "/api/v1/keys",
        {
            "name": "raised",
            "limits": {
                "cost_limit": "10",
                "increase_cap": "cost_limit",
                "increase_amount": "2.5",
                "increase_until": until.isoformat(),
            },
        },
    )

    assert response.status_code == 201, response.content
    limits = response.json()["limits"]
    assert (limits["increase_cap"], limits["increase_amount"]) == ("cost_limit", "2.500000")
    assert limits["increase_until"].startswith(until.strftime("%Y-%m-%dT%H:%M"))


def test_the_api_refuses_an_increase_of_an_unset_cap(api, org):
    until = (timezone.now() + timedelta(days=1)).isoformat()
    response = api.post(
        "/api/v1/keys",
        {
            "name": "raised",
            "limits": {
                "increase_cap": "cost_limit",
                "increase_amount": "1",
                "increase_until": until,
            },
        },
    )

    assert response.status_code == 422
    assert error_of(response)["param"] == "limits.increase_cap"
