"""Fault: PostgreSQL goes away (issue 13, "Faults"; docs/contract.md sections 2 and 3).

A backend terminated (`pg_terminate_backend` from a second connection) in the middle of a usage
batch leaves the batch wholly absent: no event, ledger entry, wallet or counter change, rollup
or closed hold. The gateway's retry of the same batch records it once, and a second retry
counts nothing. Authorize answers 503 `console_unavailable` (never an allow) while its
connection is gone or the server cannot be reached, and answers again once it can."""

import pytest
from django.db import close_old_connections, connection

from billing.ledger.models import Wallet, WalletEntry
from billing.limits.models import Counter, Hold
from billing.usage import counters
from billing.usage.models import UsageEvent, UsageHourly
from tests.factories import make_key
from tests.support.faults import free_port, terminate_backend
from tests.support.gateway import assert_denied, expected_cost_micros, usage_event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL backends"),
]


def money_state(org) -> dict:
    """Everything a usage batch writes, for one org."""
    wallet = Wallet.objects.get(org=org)
    return {
        "wallet": (wallet.balance_micros, wallet.held_micros),
        "ledger": list(
            WalletEntry.objects.filter(org=org)
            .order_by("id")
            .values_list("kind", "amount_micros", "balance_after_micros")
        ),
        "events": sorted(
            UsageEvent.objects.filter(org=org).values_list(
                "request_id", "cost_micros", "input_tokens", "output_tokens"
            )
        ),
        "rollups": list(
            UsageHourly.objects.filter(org=org)
            .order_by("key_id", "model", "hour")
            .values_list("model", "requests", "input_tokens", "output_tokens", "cost_micros")
        ),
        "counters": list(
            Counter.objects.filter(org=org)
            .order_by("kind", "key_id", "team_id")
            .values_list("kind", "key_id", "team_id", "spend_micros", "tokens", "held_micros")
        ),
        "open_holds": sorted(
            Hold.objects.filter(org=org, closed_at__isnull=True).values_list(
                "request_id", flat=True
            )
        ),
    }


def assert_unavailable(response) -> None:
    assert_denied(response, 503, "console_unavailable")
    assert response["Retry-After"] == "5"
    assert "allowed" not in response.json()


def test_a_backend_terminated_during_a_usage_batch_leaves_it_whole_or_absent(
    authorize, post_usage, org, team, monkeypatch
):
    key, secret = make_key(org, name="batch", team=team)
    request_ids = []
    for _ in range(3):
        allowed = authorize(
            secret,
            reports_usage=True,
            body={"model": "gpt-4o-mini", "messages": [{"content": "hi"}], "max_tokens": 500},
        )
        assert allowed.status_code == 200, allowed.content
        request_ids.append(allowed["X-Gateway-Request-Id"])
    events = [
        usage_event(key, request_id=request_id, input_tokens=1000 + n, output_tokens=200 + n)
        for n, request_id in enumerate(request_ids)
    ]
    before = money_state(org)
    assert before["open_holds"] == sorted(request_ids)
    assert before["wallet"][1] > 0, "the holds are on the wallet"

    # The batch's writes are done but not committed when its backend is terminated.
    apply = counters.apply
    terminated = []

    def apply_then_lose_the_backend(*args, **kwargs):
        apply(*args, **kwargs)
        assert UsageEvent.objects.filter(org=org).count() == 3, "mid-batch: written, uncommitted"
        terminated.append(connection.connection.info.backend_pid)
        terminate_backend(terminated[-1])

    monkeypatch.setattr(counters, "apply", apply_then_lose_the_backend)
    assert_unavailable(post_usage({"events": events}))
    monkeypatch.setattr(counters, "apply", apply)
    assert len(terminated) == 1
    # What Django does at the start of the next request: drop a connection that broke.
    close_old_connections()

    assert money_state(org) == before, "a batch cut off by the database left something behind"

    retried = post_usage({"events": events})
    assert retried.status_code == 200, retried.content
    assert (retried.json()["recorded"], retried.json()["duplicates"]) == (3, 0)
    repeated = post_usage({"events": events})
    assert repeated.status_code == 200, repeated.content
    assert (repeated.json()["recorded"], repeated.json()["duplicates"]) == (0, 3)

    costs = [expected_cost_micros("gpt-4o-mini", 1000 + n, 200 + n) for n in range(3)]
    total, tokens = sum(costs), sum(1200 + 2 * n for n in range(3))
    after = money_state(org)
    balance = before["wallet"][0] - total
    assert after["wallet"] == (balance, 0)
    assert after["ledger"] == [*before["ledger"], ("usage_debit", -total, balance)]
    assert after["events"] == sorted(
        (request_id, cost, 1000 + n, 200 + n)
        for n, (request_id, cost) in enumerate(zip(request_ids, costs, strict=True))
    )
    assert after["rollups"] == [("gpt-4o-mini", 3, 3003, 603, total)]
    assert after["counters"] == [
        ("limit", key.pk, None, total, tokens, 0),
        ("limit", None, team.pk, total, tokens, 0),
        ("month", key.pk, None, total, tokens, 0),
    ]
    assert after["open_holds"] == []


def test_authorize_answers_503_while_the_database_is_unreachable_and_recovers(
    authorize, post_usage, org
):
    key, secret = make_key(org, name="steady")
    assert authorize(secret).status_code == 200

    # 1. This process's backend is terminated between two requests.
    terminate_backend(connection.connection.info.backend_pid)
    assert_unavailable(authorize(secret))
    close_old_connections()  # the next request starts on a new connection
    assert authorize(secret).status_code == 200

    # 2. The server cannot be reached at all (nothing listens on its port).
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = free_port()
    event = usage_event(key)
    try:
        assert_unavailable(authorize(secret))
        assert_unavailable(authorize(secret))
        assert_unavailable(post_usage(event))
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port

    assert authorize(secret).status_code == 200
    recorded = post_usage(event)
    assert recorded.status_code == 201, recorded.content
    assert recorded.json()["status"] == "recorded"
    assert UsageEvent.objects.filter(org=org).count() == 1
