"""Per-model budgets (docs/contract.md section 2): a key's spend cap for one model in its reset
period, beside its own caps, checked at authorize, reserved on by holds, added to by usage,
released with holds, counted from the period's start when set midway, and lapsing with the
period."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from audit import Actor
from billing.limits import holds, model_budgets
from billing.limits.models import Hold, ModelCounter
from keys.models import Key
from keys.services import KeySettings, update_key
from tests.factories import make_key
from tests.support.gateway import (
    assert_denied,
    expected_cost_micros,
    micros,
    parse_time,
    usage_event,
)

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def _budgeted(org, budgets: dict, **fields):
    return make_key(
        org, name="budgeted", model_budgets={m: Decimal(v) for m, v in budgets.items()}, **fields
    )


def _counter(key, model) -> ModelCounter:
    return ModelCounter.objects.get(key=key, model=model)


def _ask(authorize, secret, model="gpt-4o-mini", *, reports_usage=True, max_tokens=500):
    return authorize(
        secret,
        model=None,
        reports_usage=reports_usage,
        body={"model": model, "prompt": "x" * 1000, "max_tokens": max_tokens},
    )


def test_a_key_gets_one_counter_per_budget_with_its_period(org):
    key, _ = _budgeted(org, {"gpt-4o-mini": "12.5", "gpt-4o": "50"}, limit_period="weekly")

    assert key.model_budgets == {"gpt-4o": "50.000000", "gpt-4o-mini": "12.500000"}
    counters = {c.model: c for c in ModelCounter.objects.filter(key=key)}
    assert set(counters) == {"gpt-4o", "gpt-4o-mini"}
    counter = counters["gpt-4o"]
    assert (counter.spend_micros, counter.held_micros) == (0, 0)
    assert counter.period_end - counter.period_start == timedelta(days=7)


def test_a_model_at_its_budget_is_refused_and_the_others_pass(authorize, org):
    key, secret = _budgeted(org, {"gpt-4o-mini": "1.00"})
    ModelCounter.objects.filter(key=key).update(spend_micros=micros("1.00"))

    refused = _ask(authorize, secret, reports_usage=False)
    other = _ask(authorize, secret, model="gpt-4o", reports_usage=False)

    error = assert_denied(refused, 402, "model_budget_exceeded", reset_at=True)
    assert "$1.00 for the model 'gpt-4o-mini'" in error["message"]
    assert parse_time(error["reset_at"]) == _counter(key, "gpt-4o-mini").period_end
    assert other.status_code == 200


@pytest.mark.smoke  # its SQL on SQLite too
def test_a_hold_reserves_on_the_models_budget_and_usage_settles_it(authorize, post_usage, org):
    key, secret = _budgeted(org, {"gpt-4o-mini": "5.00"})
    worst = expected_cost_micros("gpt-4o-mini", 1000, 500)

    allowed = _ask(authorize, secret)

    assert allowed.status_code == 200
    assert _counter(key, "gpt-4o-mini").held_micros == worst
    assert Hold.objects.get(key=key).model == "gpt-4o-mini"
    event = usage_event(
        key, request_id=allowed["X-Gateway-Request-Id"], input_tokens=300, output_tokens=100
    )
    assert post_usage({"events": [event]}).status_code == 200
    counter = _counter(key, "gpt-4o-mini")
    assert counter.held_micros == 0
    assert counter.spend_micros == expected_cost_micros("gpt-4o-mini", 300, 100)
    assert counter.tokens == 400


def test_a_hold_that_would_pass_the_budget_is_refused_and_nothing_is_held(authorize, org):
    worst = expected_cost_micros("gpt-4o-mini", 1000, 500)
    key, secret = _budgeted(org, {"gpt-4o-mini": "0.01"})  # 10,000 µ$
    ModelCounter.objects.filter(key=key).update(spend_micros=10_000 - worst + 1)

    refused = _ask(authorize, secret)

    error = assert_denied(refused, 402, "model_budget_exceeded", reset_at=True)
    assert "could take this API key past its budget" in error["message"]
    assert not Hold.objects.exists()
    assert _counter(key, "gpt-4o-mini").held_micros == 0


def test_an_expired_hold_gives_the_budget_back(authorize, org):
    key, secret = _budgeted(org, {"gpt-4o-mini": "5.00"})
    assert _ask(authorize, secret).status_code == 200

    released = holds.release_expired(now=datetime.now(UTC) + timedelta(days=1))

    assert released == 1
    assert _counter(key, "gpt-4o-mini").held_micros == 0


@pytest.mark.smoke  # its SQL on SQLite too
def test_a_budget_set_midway_counts_the_periods_spend_so_far(post_usage, org):
    key, _ = make_key(org, name="later")
    events = [
        usage_event(key, input_tokens=1000, output_tokens=1000),
        usage_event(key, input_tokens=2000, output_tokens=0),
        usage_event(key, model="gpt-4o", input_tokens=5000, output_tokens=0),
    ]
    assert post_usage({"events": events}).status_code == 200

    update_key(
        key=key,
        actor=SYSTEM,
        settings_=KeySettings(name=key.name, model_budgets={"gpt-4o-mini": Decimal("3")}),
    )

    counter = _counter(key, "gpt-4o-mini")
    assert counter.spend_micros == expected_cost_micros(
        "gpt-4o-mini", 1000, 1000
    ) + expected_cost_micros("gpt-4o-mini", 2000, 0)
    assert counter.tokens == 4000


def test_removing_a_budget_removes_its_counter_and_a_later_usage_is_harmless(post_usage, org):
    key, _ = _budgeted(org, {"gpt-4o-mini": "5", "gpt-4o": "9"})

    update_key(
        key=key,
        actor=SYSTEM,
        settings_=KeySettings(name=key.name, model_budgets={"gpt-4o": Decimal("9")}),
    )

    assert list(ModelCounter.objects.filter(key=key).values_list("model", flat=True)) == ["gpt-4o"]
    assert post_usage({"events": [usage_event(key)]}).status_code == 200
    assert _counter(key, "gpt-4o").spend_micros == 0


@pytest.mark.smoke  # its SQL on SQLite too
def test_an_ended_period_counts_as_zero_and_the_next_usage_starts_a_new_one(
    authorize, post_usage, org
):
    key, secret = _budgeted(org, {"gpt-4o-mini": "1.00"}, limit_period="daily")
    past = datetime.now(UTC) - timedelta(days=2)
    ModelCounter.objects.filter(key=key).update(
        spend_micros=micros("1.00"), period_start=past, period_end=past + timedelta(days=1)
    )

    assert _ask(authorize, secret, reports_usage=False).status_code == 200
    assert post_usage({"events": [usage_event(key)]}).status_code == 200

    counter = _counter(key, "gpt-4o-mini")
    assert counter.spend_micros == expected_cost_micros("gpt-4o-mini", 1000, 200)
    assert counter.period_end > datetime.now(UTC)


def test_changing_the_reset_period_starts_the_budgets_again(org):
    key, _ = _budgeted(org, {"gpt-4o-mini": "1.00"})
    ModelCounter.objects.filter(key=key).update(spend_micros=500_000)

    update_key(
        key=Key.objects.get(pk=key.pk),
        actor=SYSTEM,
        settings_=KeySettings(
            name=key.name, limit_period="daily", model_budgets={"gpt-4o-mini": Decimal("1")}
        ),
    )

    counter = _counter(key, "gpt-4o-mini")
    assert counter.spend_micros == 0
    assert counter.period_end - counter.period_start <= timedelta(days=1)


def test_without_the_model_a_budgeted_key_is_refused(authorize, org):
    org.plan.models.clear()
    _, secret = _budgeted(org, {"gpt-4o": "9"})

    refused = authorize(secret, model=None, body={"prompt": "hi"})

    error = assert_denied(refused, 403, "model_required")
    assert "budgets per model" in error["message"]


def test_a_key_made_without_its_counter_gets_one_at_its_first_hold(authorize, org):
    key, secret = _budgeted(org, {"gpt-4o-mini": "5.00"})
    ModelCounter.objects.filter(key=key).delete()  # as a bulk import leaves it

    assert _ask(authorize, secret).status_code == 200

    assert _counter(key, "gpt-4o-mini").held_micros == expected_cost_micros(
        "gpt-4o-mini", 1000, 500
    )


def test_a_budget_removed_since_authorize_read_the_key_refuses_nothing(org):
    key, _ = _budgeted(org, {"gpt-4o-mini": "1.00"})
    ModelCounter.objects.filter(key=key).delete()
    now = datetime.now(UTC)

    assert model_budgets.reserve(
        key_id=key.pk, model="gpt-4o-mini", cap=Decimal("1"), amount=10**9, now=now
    )
    assert not ModelCounter.objects.exists()


def test_removing_a_budget_lets_its_open_holds_go_without_touching_a_new_one(authorize, org):
    key, secret = _budgeted(org, {"gpt-4o-mini": "5.00"})
    first = _ask(authorize, secret)
    assert first.status_code == 200
    update_key(key=Key.objects.get(pk=key.pk), actor=SYSTEM, settings_=KeySettings(name=key.name))
    old = Hold.objects.get(request_id=first["X-Gateway-Request-Id"])
    assert old.model == ""
    update_key(
        key=Key.objects.get(pk=key.pk),
        actor=SYSTEM,
        settings_=KeySettings(name=key.name, model_budgets={"gpt-4o-mini": Decimal("5")}),
    )
    assert _ask(authorize, secret).status_code == 200
    now = datetime.now(UTC)
    Hold.objects.filter(pk=old.pk).update(expires_at=now - timedelta(seconds=1))

    assert holds.release_expired(now=now) == 1

    # The old hold went without taking from the new budget's counter, which keeps its own.
    assert _counter(key, "gpt-4o-mini").held_micros == expected_cost_micros(
        "gpt-4o-mini", 1000, 500
    )
