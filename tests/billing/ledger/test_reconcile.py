"""reconcile_wallets (command and daily task): every wallet against its ledger, every key and
team counter against the usage events recorded in its period. A difference is a finding row,
a WARNING on billing.reconcile and a non-zero exit; it is never corrected."""

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from celery.schedules import crontab
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit import Actor
from billing.dbvalues import db_id
from billing.ledger import tasks
from billing.ledger.models import (
    FindingKind,
    ModelPrice,
    ReconciliationFinding,
    Wallet,
    WalletEntry,
)
from billing.ledger.reconcile import reconcile_all
from billing.ledger.services import adjust_wallet, refund_wallet, top_up_wallet
from billing.limits.models import Counter
from billing.limits.periods import LimitPeriod
from billing.usage import services as usage
from config.celery import app
from keys.services import KeySettings, update_key
from tests.factories import make_key

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def prices(db):
    ModelPrice.objects.create(
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        max_output_tokens=16_000,
    )


@pytest.fixture
def key(org, team):
    return make_key(org, name="billing-prod", team=team)[0]


def event(key, request_id: str, *, at: datetime | None = None, **overrides) -> dict:
    data = {
        "request_id": request_id,
        "key_id": str(key.pk),
        "model": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 200,
        "status_code": 200,
        "occurred_at": (at or datetime.now(UTC)).isoformat(),
    }
    data.update(overrides)
    return data


@pytest.fixture
def busy_org(org, team, key):
    """Money and usage of every kind, recorded the way the console records them."""
    daily = make_key(org, name="daily", limit_period=LimitPeriod.DAILY, cost_limit=Decimal(5))[0]
    forever = make_key(org, name="forever", team=team, limit_period=LimitPeriod.NEVER)[0]
    now = datetime.now(UTC)
    last_month = now - timedelta(days=40)
    top_up_wallet(org=org, actor=SYSTEM, amount=Decimal("100"))
    # Recorded 40 days ago: in closed periods of the month and team counters.
    usage.record_batch(
        [event(key, "old-1", at=last_month), event(daily, "old-2", at=last_month)],
        now=last_month + timedelta(minutes=1),
    )
    # Recorded two days ago: the daily key's counter keeps that ended day until its next use.
    usage.record_batch(
        [event(daily, "two-days-ago", at=now - timedelta(days=2))],
        now=now - timedelta(days=2),
    )
    adjust_wallet(org=org, actor=SYSTEM, amount=Decimal("-2"), reason="correction")
    # Recorded now although it happened 40 days ago: counters count usage when it is recorded.
    usage.record_batch(
        [
            event(key, "late", at=last_month, output_tokens=5000),
            *(event(forever, f"now-{n}", input_tokens=n * 10) for n in range(5)),
            event(key, "now-key"),
        ]
    )
    refund_wallet(org=org, actor=SYSTEM, amount=Decimal("0.01"), reference="T-1")
    return org


def tamper(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def run_command(out: StringIO | None = None, err: StringIO | None = None) -> tuple[str, str]:
    out, err = out or StringIO(), err or StringIO()
    call_command("reconcile_wallets", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_clean_data_reconciles_with_no_finding_and_a_zero_exit(busy_org, caplog):
    assert Counter.objects.filter(org=busy_org).count() == 7  # 3 keys × 2 + the team

    with caplog.at_level(logging.WARNING, logger="billing.reconcile"):
        out, err = run_command()

    # The forever key's `never` counter began before the retained window: not compared.
    assert "Checked 1 wallets, 5 key counters and 1 team counters." in out
    assert "usage events are kept 400 days" in out
    assert "1 counter(s) whose period began earlier were not compared." in out
    assert "Every wallet and counter reconciles." in out
    assert err == ""
    assert ReconciliationFinding.objects.count() == 0
    assert caplog.records == []


def test_a_tampered_wallet_balance_is_a_finding_a_warning_and_a_failing_exit(busy_org, caplog):
    ledger = sum(WalletEntry.objects.filter(org=busy_org).values_list("amount_micros", flat=True))
    tamper(
        "UPDATE billing_wallet SET balance_micros = balance_micros + 1234 WHERE org_id = %s",
        [db_id(busy_org.pk)],
    )

    with (
        caplog.at_level(logging.WARNING, logger="billing.reconcile"),
        pytest.raises(CommandError, match="1 difference"),
    ):
        run_command(err=(err := StringIO()))

    finding = ReconciliationFinding.objects.get()
    assert (finding.org, finding.kind, finding.subject) == (
        busy_org,
        FindingKind.WALLET,
        str(busy_org.pk),
    )
    assert (finding.expected_micros, finding.actual_micros) == (ledger, ledger + 1234)
    assert "acme" in finding.detail
    assert (
        err.getvalue() == f"DIFFERENCE Wallet balance differs from its ledger: {finding.detail}\n"
    )
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert str(busy_org.pk) in record.getMessage()
    # Reported, never fixed.
    assert Wallet.objects.get(org=busy_org).balance_micros == ledger + 1234


def test_a_tampered_key_counter_is_a_finding_a_warning_and_a_failing_exit(busy_org, key, caplog):
    counter = Counter.objects.get(key=key, kind="month")
    tamper("UPDATE billing_counter SET spend_micros = spend_micros + 7 WHERE id = %s", [counter.pk])

    with caplog.at_level(logging.WARNING, logger="billing.reconcile"), pytest.raises(CommandError):
        run_command(err=(err := StringIO()))

    finding = ReconciliationFinding.objects.get()
    assert err.getvalue().startswith("DIFFERENCE Key counter differs from its usage events")
    assert (finding.kind, finding.subject) == (FindingKind.KEY_COUNTER, str(key.pk))
    assert finding.actual_micros == finding.expected_micros + 7
    assert "month counter" in finding.detail
    assert len(caplog.records) == 1
    assert Counter.objects.get(pk=counter.pk).spend_micros == finding.expected_micros + 7


def test_a_tampered_team_counter_is_reported_also_when_only_its_tokens_differ(
    busy_org, team, caplog
):
    tamper("UPDATE billing_counter SET tokens = tokens - 1 WHERE team_id = %s", [db_id(team.pk)])

    with caplog.at_level(logging.WARNING, logger="billing.reconcile"):
        result = reconcile_all()

    [finding] = result.findings
    assert (finding.kind, finding.subject) == (FindingKind.TEAM_COUNTER, str(team.pk))
    assert finding.expected_micros == finding.actual_micros
    assert "tokens" in finding.detail
    assert ReconciliationFinding.objects.filter(kind=FindingKind.TEAM_COUNTER).count() == 1
    assert len(caplog.records) == 1


def test_every_difference_is_reported_in_one_run_and_clean_orgs_are_not(
    busy_org, key, team, other_org
):
    top_up_wallet(org=other_org, actor=SYSTEM, amount=Decimal("3"))
    tamper("UPDATE billing_wallet SET balance_micros = 0 WHERE org_id = %s", [db_id(busy_org.pk)])
    tamper("UPDATE billing_counter SET spend_micros = 0 WHERE key_id = %s", [db_id(key.pk)])
    tamper("UPDATE billing_counter SET tokens = 0 WHERE team_id = %s", [db_id(team.pk)])

    with pytest.raises(CommandError, match="4 difference"):
        run_command()

    assert sorted(ReconciliationFinding.objects.values_list("kind", "subject")) == sorted(
        [
            (FindingKind.WALLET, str(busy_org.pk)),
            (FindingKind.KEY_COUNTER, str(key.pk)),
            (FindingKind.KEY_COUNTER, str(key.pk)),
            (FindingKind.TEAM_COUNTER, str(team.pk)),
        ]
    )
    assert not ReconciliationFinding.objects.filter(org=other_org).exists()


def test_a_ledger_without_its_wallet_row_is_reported(org):
    top_up_wallet(org=org, actor=SYSTEM, amount=Decimal("3"))
    Wallet.objects.filter(org=org).delete()

    [finding] = reconcile_all().findings

    assert (finding.kind, finding.expected_micros, finding.actual_micros) == (
        FindingKind.WALLET,
        3_000_000,
        0,
    )


def test_the_query_count_does_not_grow_with_the_number_of_keys(org, team):
    def queries_for_a_run() -> int:
        with CaptureQueriesContext(connection) as queries:
            reconcile_all()
        return len(queries)

    keys = [make_key(org, name=f"k{n}", team=team)[0] for n in range(2)]
    usage.record_batch([event(k, f"a{n}") for n, k in enumerate(keys)])
    with_two = queries_for_a_run()
    more = [make_key(org, name=f"m{n}", team=team)[0] for n in range(15)]
    usage.record_batch([event(k, f"b{n}") for n, k in enumerate(more)])

    assert Counter.objects.filter(key__isnull=False).count() == 34
    assert queries_for_a_run() == with_two


def test_the_daily_task_records_findings_and_returns_how_many(busy_org):
    tamper(
        "UPDATE billing_wallet SET balance_micros = balance_micros - 1 WHERE org_id = %s",
        [db_id(busy_org.pk)],
    )

    found = tasks.reconcile_wallets.delay().get()

    assert found == 1
    assert ReconciliationFinding.objects.get().kind == FindingKind.WALLET


def test_the_task_finds_nothing_on_clean_data(busy_org):
    assert tasks.reconcile_wallets.delay().get() == 0
    assert ReconciliationFinding.objects.count() == 0


def test_beat_runs_the_reconciliation_daily_at_four_utc():
    entry = app.conf.beat_schedule["reconcile-wallets"]

    assert entry["task"] == "billing.tasks.reconcile_wallets"
    assert entry["schedule"] == crontab(minute=0, hour=4)
    assert app.conf.timezone == "UTC"
    assert "billing.tasks.reconcile_wallets" in app.tasks


def test_a_keys_budget_per_model_reconciles_and_a_tampered_one_is_a_finding(org, key):
    usage.record_batch([event(key, "before-budget", input_tokens=4000)])
    update_key(
        key=key,
        actor=SYSTEM,
        settings_=KeySettings(
            name=key.name, team=key.team, model_budgets={"gpt-4o-mini": Decimal("10")}
        ),
    )
    usage.record_batch([event(key, "after-budget")])

    clean = reconcile_all()

    assert (clean.model_counters, clean.findings) == (1, [])
    tamper(
        "UPDATE billing_modelcounter SET spend_micros = spend_micros + 7 WHERE key_id = %s",
        [db_id(key.pk)],
    )
    (finding,) = reconcile_all().findings
    assert finding.kind == FindingKind.MODEL_COUNTER
    assert finding.actual_micros == finding.expected_micros + 7
    assert finding.detail.startswith(f"The gpt-4o-mini counter of key {key.pk}")
