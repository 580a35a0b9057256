"""Changing a key's budgets or its period beside usage batches of the key (on PostgreSQL, real
threads): every writer locks the key's counters before its model counters, so neither waits on
the other in a circle, and what they leave reconciles with the usage events."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.db.backends.utils import CursorWrapper

from audit import Actor
from billing.ledger.models import ModelPrice
from billing.ledger.reconcile import reconcile_all
from billing.limits.models import ModelCounter
from billing.usage import services as usage
from keys.models import Key
from keys.services import KeySettings, update_key
from tests.factories import make_key
from tests.support.gateway import usage_event
from tests.threads import run_writers

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks: SQLite has one writer at a time"
    ),
]

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def prices(db):
    for model in ("gpt-4o-mini", "gpt-4o"):
        ModelPrice.objects.create(
            model=model,
            input_per_million=Decimal("0.15"),
            output_per_million=Decimal("0.60"),
            max_output_tokens=16_000,
        )


@pytest.mark.parametrize(
    ("change", "pause_after"),
    [
        # gpt-4o-mini's budget removed: the admin pauses once its counter is deleted.
        ({"model_budgets": {"gpt-4o": Decimal("9")}}, "DELETE FROM billing_modelcounter"),
        # A new period and a new amount: the admin pauses once the period restarted.
        (
            {"limit_period": "daily", "model_budgets": {"gpt-4o": Decimal("10")}},
            "UPDATE billing_counter SET period_start",
        ),
    ],
    ids=["remove-a-budget", "change-period-and-budget"],
)
def test_a_budget_change_and_a_usage_batch_of_the_key_never_deadlock(
    org, monkeypatch, change, pause_after
):
    key, _ = make_key(
        org, name="k", model_budgets={"gpt-4o-mini": Decimal("5"), "gpt-4o": Decimal("9")}
    )
    usage.record_batch([usage_event(key, model="gpt-4o")])
    # The admin's transaction pauses after one of its statements; the usage batch, started
    # then, must wait for it on the key's counters rather than hold one the admin needs next.
    paused = threading.Event()
    execute = CursorWrapper.execute

    def execute_and_pause(self, sql, params=None):
        result = execute(self, sql, params)
        if threading.current_thread().name == "admin" and sql.startswith(pause_after):
            paused.set()
            time.sleep(0.5)
        return result

    monkeypatch.setattr(CursorWrapper, "execute", execute_and_pause)

    def work(n: int) -> None:
        if n == 0:
            threading.current_thread().name = "admin"
            update_key(
                key=Key.objects.get(pk=key.pk),
                actor=SYSTEM,
                settings_=KeySettings(name="k", **change),
            )
        else:
            assert paused.wait(10)
            usage.record_batch(
                [usage_event(key, model="gpt-4o-mini"), usage_event(key, model="gpt-4o")]
            )

    assert run_writers(2, work) == []
    assert paused.is_set()
    assert list(ModelCounter.objects.filter(key=key).values_list("model", flat=True)) == ["gpt-4o"]
    assert reconcile_all().findings == []
