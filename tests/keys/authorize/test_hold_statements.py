"""A hold's writes (billing.limits.hold_statements): one statement on PostgreSQL, one by one on
SQLite, with the same outcome on both. Marked smoke: the SQLite pass runs them too."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from billing.limits import holds
from billing.limits.models import Counter, Hold
from gateway_console import secret as secrets
from gateway_console.contract import ContractError
from keys.authorize.hold import hold_price, hold_scope
from keys.authorize.lookup import fetch_key
from tests.factories import make_key
from tests.support.gateway import counter_of, set_counter, set_wallet, wallet_of

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def _place(plaintext: str, request_id: str = "req_one", input_tokens: int = 1000) -> int | None:
    now = datetime.now(UTC)
    row = fetch_key(secrets.secret_hash(plaintext), "gpt-4o-mini", now)
    with transaction.atomic():
        return holds.place(
            scope=hold_scope(row, hold_price(row)),
            request_id=request_id,
            input_tokens=input_tokens,
            max_output_tokens=100,
            now=now,
        )


def _refusal(plaintext: str) -> str:
    with pytest.raises(ContractError) as refused:
        _place(plaintext)
    return refused.value.code


def test_a_request_id_that_already_holds_reserves_nothing_again(org, team):
    key, plaintext = make_key(org, name="held", team=team, monthly_spend_cap=Decimal("10"))

    first = _place(plaintext)
    again = _place(plaintext)

    assert first > 0
    assert again is None
    assert Hold.objects.count() == 1
    assert wallet_of(org).held_micros == first
    assert counter_of(key=key, kind="month").held_micros == first
    assert counter_of(key=key, kind="limit").held_micros == first
    assert counter_of(team=team, kind="limit").held_micros == first


def test_the_wallet_is_named_first_when_nothing_has_room(org, team):
    key, plaintext = make_key(org, name="short", team=team, monthly_spend_cap=Decimal("10"))
    _place(plaintext, "req_counters_made")
    Hold.objects.all().delete()
    Counter.objects.update(held_micros=0)
    set_wallet(org, balance="0")
    set_counter(key=key, kind="month", spend="10")

    assert _refusal(plaintext) == "billing_shortfall"


@pytest.mark.parametrize(
    ("cap", "code"),
    [("key", "api_key_quota_exceeded"), ("team", "team_quota_exceeded")],
)
def test_a_cap_without_room_refuses_and_leaves_every_row_as_it_was(org, team, cap, code):
    key, plaintext = make_key(org, name="capped", team=team, cost_limit=Decimal("5"))
    type(team).objects.filter(pk=team.pk).update(spend_cap=Decimal("5"))
    _place(plaintext, "req_counters_made")
    Hold.objects.all().delete()
    Counter.objects.update(held_micros=0)
    set_wallet(org, balance="100")
    set_counter(**({"key": key} if cap == "key" else {"team": team}), kind="limit", spend="5")

    assert _refusal(plaintext) == code
    assert not Hold.objects.exists()
    assert wallet_of(org).held_micros == 0
    assert not Counter.objects.filter(held_micros__gt=0).exists()


def test_a_request_id_that_already_holds_is_not_refused_when_its_cap_has_filled_since(org, team):
    key, plaintext = make_key(org, name="full", team=team, monthly_spend_cap=Decimal("10"))
    first = _place(plaintext)
    set_counter(key=key, kind="month", spend="10")

    again = _place(plaintext)

    assert (first > 0, again) == (True, None)
    assert Hold.objects.count() == 1
    assert wallet_of(org).held_micros == first
