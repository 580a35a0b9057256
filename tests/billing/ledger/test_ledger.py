"""The wallet ledger: usage batches append one usage_debit entry per org, every balance change
has exactly one entry whose balance_after is the balance that change produced, the balance
always equals the sum of the entries (also under concurrent writers), and the database refuses
to change or remove an entry (migration 0003)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from django.forms.models import model_to_dict

from audit import Actor
from audit.models import AuditEvent
from billing.ledger.models import EntryKind, ModelPrice, Wallet, WalletEntry
from billing.ledger.services import adjust_wallet, refund_wallet, top_up_wallet
from billing.usage import services as usage
from billing.usage.models import UsageEvent
from tests.factories import OrgFactory, make_key
from tests.threads import run_writers

SYSTEM = Actor.system("tests")
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's triggers and concurrent writers"
)
# SQLite's own triggers: run by bin/test's SQLite pass, left out of its PostgreSQL pass.
on_sqlite = pytest.mark.sqlite

# gpt-4o-mini at $0.15 / $0.60 per million tokens, no plan (multiplier 1): 1,000 input and
# 200 output tokens cost 150 + 120 = 270 micro-dollars.
COST_OF_DEFAULT_EVENT = 270


@pytest.fixture
def prices(db):
    ModelPrice.objects.create(
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        max_output_tokens=16_000,
    )
    ModelPrice.objects.create(
        model="free-model", input_per_million=0, output_per_million=0, max_output_tokens=1000
    )


@pytest.fixture
def key(org, team, prices):
    return make_key(org, name="billing-prod", team=team)[0]


def event(key, request_id: str, **overrides) -> dict:
    data = {
        "request_id": request_id,
        "key_id": str(key.pk),
        "model": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 200,
        "status_code": 200,
        "latency_ms": 300,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    data.update(overrides)
    return data


def ledger_sum(org) -> int:
    return WalletEntry.objects.filter(org=org).aggregate(total=Sum("amount_micros"))["total"] or 0


def balance_of(org) -> int:
    return Wallet.objects.get(org=org).balance_micros


def assert_entries_chain(org) -> None:
    """Each entry's balance_after is the running sum of the entries up to it."""
    running = 0
    for entry in WalletEntry.objects.filter(org=org).order_by("id"):
        running += entry.amount_micros
        assert entry.balance_after_micros == running, entry


# Usage debits


def test_a_usage_batch_appends_one_debit_entry_for_its_org(org, key):
    top_up_wallet(org=org, actor=SYSTEM, amount=Decimal("1"))

    result = usage.record_batch([event(key, f"req_{n}") for n in range(3)])

    assert result.count("recorded") == 3
    debit = WalletEntry.objects.get(org=org, kind=EntryKind.USAGE_DEBIT)
    assert debit.amount_micros == -3 * COST_OF_DEFAULT_EVENT
    assert debit.balance_after_micros == 1_000_000 - 3 * COST_OF_DEFAULT_EVENT
    assert debit.reference == "usage:req_0 (3 events)"
    assert (debit.actor_type, debit.actor_label) == ("system", "gateway usage")
    assert balance_of(org) == ledger_sum(org) == 1_000_000 - 3 * COST_OF_DEFAULT_EVENT


def test_a_usage_batch_of_two_orgs_appends_one_debit_entry_for_each(org, key, prices):
    other = OrgFactory(name="Globex", slug="globex")
    other_key = make_key(other, name="globex-prod")[0]

    usage.record_batch(
        [
            event(key, "a-1"),
            event(other_key, "b-1", input_tokens=2000),
            event(key, "a-2"),
            event(other_key, "b-2", input_tokens=2000),
        ]
    )

    mine = WalletEntry.objects.get(org=org)
    theirs = WalletEntry.objects.get(org=other)
    assert (mine.amount_micros, mine.reference) == (-540, "usage:a-1 (2 events)")
    assert (theirs.amount_micros, theirs.reference) == (-840, "usage:b-1 (2 events)")
    assert balance_of(org) == ledger_sum(org) == -540
    assert balance_of(other) == ledger_sum(other) == -840


def test_a_repeated_usage_batch_appends_nothing_more(org, key):
    batch = [event(key, "req_1"), event(key, "req_2")]
    usage.record_batch(batch)

    result = usage.record_batch(batch)

    assert result.count("duplicate") == 2
    assert WalletEntry.objects.filter(org=org).count() == 1
    assert balance_of(org) == ledger_sum(org) == -2 * COST_OF_DEFAULT_EVENT


def test_a_batch_that_cost_nothing_appends_no_entry(org, key):
    top_up_wallet(org=org, actor=SYSTEM, amount=Decimal("1"))

    result = usage.record_batch(
        [
            event(key, "free-1", model="free-model"),
            event(key, "zero-1", input_tokens=0, output_tokens=0),
        ]
    )

    assert result.count("recorded") == 2
    assert UsageEvent.objects.filter(org=org).count() == 2
    assert list(WalletEntry.objects.filter(org=org).values_list("kind", flat=True)) == [
        EntryKind.TOP_UP
    ]
    assert balance_of(org) == ledger_sum(org) == 1_000_000


def test_usage_debit_reference_fits_the_column_with_the_longest_request_id(org, key):
    long_id = "r" * 100

    usage.record_batch([event(key, long_id)])

    reference = WalletEntry.objects.get(org=org).reference
    assert len(reference) <= 100
    assert reference.startswith("usage:rrr")
    assert reference.endswith(" (1 event)")


def test_usage_writes_no_audit_event(org, key):
    before = AuditEvent.objects.filter(org=org).count()

    usage.record_batch([event(key, "req_1")])

    assert AuditEvent.objects.filter(org=org).count() == before


def test_balance_equals_the_sum_of_the_ledger_after_a_mixed_sequence(org, key):
    top_up_wallet(org=org, actor=SYSTEM, amount=Decimal("20"))
    usage.record_batch([event(key, f"a{n}") for n in range(5)])
    adjust_wallet(org=org, actor=SYSTEM, amount=Decimal("-1.5"), reason="correction")
    usage.record_batch([event(key, f"b{n}", output_tokens=n * 1000) for n in range(4)])
    refund_wallet(org=org, actor=SYSTEM, amount=Decimal("0.25"), reference="T-1")
    usage.record_batch([event(key, "a0"), event(key, "c0", model="free-model")])
    top_up_wallet(org=org, actor=SYSTEM, amount=Decimal("0.000001"))

    costs = UsageEvent.objects.filter(org=org).aggregate(total=Sum("cost_micros"))["total"]
    assert costs == 5 * 270 + sum(150 + 600 * n for n in range(4))
    assert balance_of(org) == 20_000_000 - costs - 1_500_000 + 250_000 + 1
    assert balance_of(org) == ledger_sum(org)
    assert list(
        WalletEntry.objects.filter(org=org).order_by("id").values_list("kind", flat=True)
    ) == [
        EntryKind.TOP_UP,
        EntryKind.USAGE_DEBIT,
        EntryKind.ADJUSTMENT,
        EntryKind.USAGE_DEBIT,
        EntryKind.REFUND,
        EntryKind.TOP_UP,
    ]
    assert_entries_chain(org)


def test_a_usage_batch_for_an_org_without_a_wallet_creates_it_with_its_entry(org, key):
    assert not Wallet.objects.filter(org=org).exists()

    usage.record_batch([event(key, "req_1")])

    assert balance_of(org) == ledger_sum(org) == -COST_OF_DEFAULT_EVENT


def test_usage_recorded_at_a_given_time_stamps_its_entry_with_it(org, key):
    then = datetime.now(UTC) - timedelta(days=2)

    usage.record_batch(
        [event(key, "old", occurred_at=(then - timedelta(minutes=1)).isoformat())], now=then
    )

    assert WalletEntry.objects.get(org=org).created_at == then


# Append-only


@pytest.fixture
def entry(org):
    top_up_wallet(org=org, actor=SYSTEM, amount=Decimal("1"))
    return top_up_wallet(org=org, actor=SYSTEM, amount=Decimal("2"))


def _save_changed(entry):
    entry.amount_micros = 999_000_000
    entry.save()


def _update_queryset(entry):
    WalletEntry.objects.filter(pk=entry.pk).update(reason="nothing happened")


def _delete_instance(entry):
    WalletEntry.objects.get(pk=entry.pk).delete()


def _delete_queryset(entry):
    WalletEntry.objects.filter(org=entry.org).delete()


def _raw(sql):
    def run(entry):
        with connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])

    return run


def _truncate(entry):
    with connection.cursor() as cursor:
        # Check the test's deferred foreign keys now: PostgreSQL refuses to TRUNCATE a table
        # with pending trigger events for reasons of its own, and the trigger is what we test.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE billing_walletentry")


ATTEMPTS = {
    "save of an existing entry": _save_changed,
    "queryset.update()": _update_queryset,
    "instance.delete()": _delete_instance,
    "queryset.delete()": _delete_queryset,
    "raw UPDATE": _raw("UPDATE billing_walletentry SET amount_micros = 1 WHERE id = %s"),
    "raw DELETE": _raw("DELETE FROM billing_walletentry WHERE id = %s"),
}


def _attempt_each(attempts, entry):
    before = [model_to_dict(e) for e in WalletEntry.objects.filter(org=entry.org).order_by("id")]
    refused = []
    for name, attempt in attempts.items():
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt(WalletEntry.objects.get(pk=entry.pk))
        refused.append(name)

    assert refused == list(attempts)
    after = [model_to_dict(e) for e in WalletEntry.objects.filter(org=entry.org).order_by("id")]
    assert after == before
    assert balance_of(entry.org) == ledger_sum(entry.org) == 3_000_000


@on_postgresql
@pytest.mark.django_db
def test_postgresql_refuses_to_update_delete_or_truncate_the_ledger(entry):
    _attempt_each({**ATTEMPTS, "raw TRUNCATE": _truncate}, entry)


@on_sqlite
@pytest.mark.django_db
def test_sqlite_refuses_to_update_or_delete_the_ledger(entry):
    _attempt_each(ATTEMPTS, entry)


@pytest.mark.django_db
def test_entries_can_still_be_appended_after_refused_changes(entry, org):
    with pytest.raises(DatabaseError), transaction.atomic():
        _update_queryset(entry)

    third = top_up_wallet(org=org, actor=SYSTEM, amount=Decimal("4"))

    assert third.balance_after_micros == 7_000_000
    assert balance_of(org) == ledger_sum(org) == 7_000_000


# Concurrent writers


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_top_ups_and_usage_batches_keep_the_balance_equal_to_the_ledger(
    org, team, prices
):
    keys = [make_key(org, name=f"writer-{n}", team=team)[0] for n in range(4)]
    top_ups_per_writer, batches_per_writer, batch_size = 5, 5, 20

    def work(n: int) -> None:
        for i in range(max(top_ups_per_writer, batches_per_writer)):
            if n % 2 == 0 and i < top_ups_per_writer:
                top_up_wallet(org=org, actor=SYSTEM, amount=Decimal(f"{n + 1}.{i:02d}"))
            if n % 2 == 1 and i < batches_per_writer:
                usage.record_batch(
                    [
                        event(
                            keys[(n + j) % len(keys)],
                            f"w{n}-b{i}-e{j}",
                            input_tokens=100 + n * 7 + j,
                            output_tokens=10 + i * 3,
                        )
                        for j in range(batch_size)
                    ]
                )
            if n % 4 == 2 and i == 0:
                refund_wallet(org=org, actor=SYSTEM, amount=Decimal("0.5"), reference=f"T-{n}")

    writers = 16
    errors = run_writers(writers, work)

    assert errors == []
    top_ups = sum(
        int(Decimal(f"{n + 1}.{i:02d}") * 1_000_000)
        for n in range(0, writers, 2)
        for i in range(top_ups_per_writer)
    )
    refunds = sum(500_000 for n in range(writers) if n % 4 == 2)
    costs = UsageEvent.objects.filter(org=org).aggregate(total=Sum("cost_micros"))["total"]
    assert UsageEvent.objects.filter(org=org).count() == (writers // 2) * batches_per_writer * 20
    assert balance_of(org) == top_ups + refunds - costs
    assert balance_of(org) == ledger_sum(org)
    assert WalletEntry.objects.filter(org=org, kind=EntryKind.USAGE_DEBIT).count() == (
        (writers // 2) * batches_per_writer
    )
    assert_entries_chain(org)
