"""Concurrent writers on PostgreSQL (docs/contract.md sections 2 and 3): no lost update on counters
and the wallet, a repeated request id counted once however it races, and holds that never let
concurrent requests overspend a cap. Real threads, each with its own database connection."""

import random
import threading
from collections import Counter as Tally
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from billing.limits.models import Counter, Hold
from billing.usage import services as usage
from billing.usage.models import UsageEvent
from gateway_console.models import Team
from tests.factories import make_key
from tests.support.gateway import (
    PRICES,
    WALLET_BALANCE,
    call_authorize,
    counter_of,
    expected_cost_micros,
    micros,
    wallet_of,
)
from tests.threads import run_writers

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
    ),
]

MODELS = ("gpt-4o-mini", "gpt-4o", "gemini-2.0-flash")


def _event(key_id, request_id: str, n: int) -> dict:
    return {
        "request_id": request_id,
        "key_id": str(key_id),
        "model": MODELS[n % len(MODELS)],
        "input_tokens": 100 + (n * 37) % 5000,
        "output_tokens": 10 + (n * 11) % 900,
        "status_code": 200,
        "latency_ms": 100,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def _cost(event: dict) -> int:
    return expected_cost_micros(event["model"], event["input_tokens"], event["output_tokens"])


def _tokens(event: dict) -> int:
    return event["input_tokens"] + event["output_tokens"]


@pytest.fixture
def team_keys(org, team):
    return [make_key(org, name=f"writer-key-{n}", team=team)[0] for n in range(10)]


def _assert_totals(org, team, keys, events: list[dict]) -> None:
    spend, tokens = defaultdict(int), defaultdict(int)
    for event in events:
        spend[event["key_id"]] += _cost(event)
        tokens[event["key_id"]] += _tokens(event)
    for key in keys:
        for kind in ("month", "limit"):
            counter = counter_of(key=key, kind=kind)
            assert (counter.spend_micros, counter.tokens) == (
                spend[str(key.pk)],
                tokens[str(key.pk)],
            ), (key.name, kind)
    team_counter = counter_of(team=team, kind="limit")
    assert team_counter.spend_micros == sum(spend.values())
    assert team_counter.tokens == sum(tokens.values())
    assert wallet_of(org).balance_micros == micros(WALLET_BALANCE) - sum(spend.values())
    assert wallet_of(org).held_micros == 0


def test_fifty_writers_of_300_events_each_lose_no_update(org, team, team_keys):
    writers, batches, batch_size = 50, 6, 50
    plan = {
        n: [
            [
                _event(
                    team_keys[(n + b + i) % len(team_keys)].pk,
                    f"req_{n}_{b}_{i}",
                    n * 1000 + b * 100 + i,
                )
                for i in range(batch_size)
            ]
            for b in range(batches)
        ]
        for n in range(writers)
    }
    outcomes: list[str] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        for batch in plan[n]:
            result = usage.record_batch(batch)
            with lock:
                outcomes.extend(o.status for o in result.outcomes)

    errors = run_writers(writers, write)

    assert errors == []
    assert Tally(outcomes) == {"recorded": 15_000}
    assert UsageEvent.objects.count() == 15_000
    all_events = [e for batches_of in plan.values() for batch in batches_of for e in batch]
    _assert_totals(org, team, team_keys, all_events)


def test_a_hundred_request_ids_delivered_three_times_by_forty_writers_count_once(
    org, team, team_keys
):
    events = {
        f"req_dup_{n:03d}": _event(team_keys[n % len(team_keys)].pk, f"req_dup_{n:03d}", n)
        for n in range(100)
    }
    deliveries = [request_id for request_id in events for _ in range(3)]
    random.Random(20261122).shuffle(deliveries)
    writers = 40
    # Each writer posts its share as one batch, in its own (shuffled) order.
    shares = [deliveries[n::writers] for n in range(writers)]
    outcomes: list[str] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        result = usage.record_batch([events[request_id] for request_id in shares[n]])
        with lock:
            outcomes.extend(o.status for o in result.outcomes)

    errors = run_writers(writers, write)

    assert errors == []
    assert Tally(outcomes) == {"recorded": 100, "duplicate": 200}
    assert UsageEvent.objects.count() == 100
    assert set(UsageEvent.objects.values_list("request_id", flat=True)) == set(events)
    _assert_totals(org, team, team_keys, list(events.values()))


# Holds: concurrent authorize calls cannot overspend a cap

INPUT_TOKENS = 1000
# gpt-4o-mini with 1,000 input tokens and its longest answer: (150 + 9,600) × 1.20 µ$.
HOLD = expected_cost_micros("gpt-4o-mini", INPUT_TOKENS, PRICES["gpt-4o-mini"][2])


def _authorize_concurrently(secrets: list[str], calls: int, threads: int) -> list[tuple]:
    answers: list[tuple] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        client = Client()
        for i in range(n, calls, threads):
            response = call_authorize(
                client,
                secrets[i % len(secrets)],
                model=None,
                reports_usage=True,
                body={"model": "gpt-4o-mini", "prompt": "x" * INPUT_TOKENS},
            )
            code = "allowed" if response.status_code == 200 else response.json()["error"]["code"]
            with lock:
                answers.append((response.status_code, code))

    errors = run_writers(threads, work)
    assert errors == []
    return answers


def test_two_hundred_concurrent_requests_get_exactly_the_hundred_holds_the_cap_admits(org, team):
    assert HOLD == 11_700
    cap = Decimal(100 * HOLD) / 1_000_000
    key, secret = make_key(org, name="capped", team=team, monthly_spend_cap=cap)

    answers = _authorize_concurrently([secret], calls=200, threads=20)

    assert Tally(answers) == {(200, "allowed"): 100, (402, "api_key_quota_exceeded"): 100}
    assert Hold.objects.filter(key=key, closed_at__isnull=True).count() == 100
    assert counter_of(key=key, kind="month").held_micros == 100 * HOLD
    assert counter_of(key=key, kind="limit").held_micros == 100 * HOLD
    assert counter_of(team=team, kind="limit").held_micros == 100 * HOLD
    assert wallet_of(org).held_micros == 100 * HOLD
    assert not Counter.objects.filter(spend_micros__gt=0).exists()


def test_keys_sharing_a_team_cap_get_exactly_the_holds_it_admits(org, team):
    Team.objects.filter(pk=team.pk).update(spend_cap=Decimal(60 * HOLD) / 1_000_000)
    secrets = [make_key(org, name=f"team-key-{n}", team=team)[1] for n in range(4)]

    answers = _authorize_concurrently(secrets, calls=120, threads=20)

    assert Tally(answers) == {(200, "allowed"): 60, (402, "team_quota_exceeded"): 60}
    assert Hold.objects.count() == 60
    assert counter_of(team=team, kind="limit").held_micros == 60 * HOLD
    assert wallet_of(org).held_micros == 60 * HOLD


def test_requests_a_rate_limit_refuses_after_their_hold_leave_no_hold_behind(org, team):
    # The hold commits first, then Redis counts the request; a request refused there has its
    # hold removed at once (billing.limits.holds.take_back).
    key, secret = make_key(org, name="rated", team=team, rpm_limit=30)

    answers = _authorize_concurrently([secret], calls=120, threads=20)

    assert Tally(answers) == {(200, "allowed"): 30, (429, "rate_limit_exceeded"): 90}
    assert Hold.objects.filter(key=key).count() == 30
    assert counter_of(key=key, kind="month").held_micros == 30 * HOLD
    assert counter_of(team=team, kind="limit").held_micros == 30 * HOLD
    assert wallet_of(org).held_micros == 30 * HOLD
