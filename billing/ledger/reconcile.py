"""Reconciliation: every wallet against its ledger, every key and team counter against the
usage events it counted. A difference becomes a ReconciliationFinding and a WARNING on the
`billing.reconcile` logger, for staff to look into; nothing is ever corrected here.

Each check is one set-based statement (GROUP BY), so its cost does not grow in queries with
the number of orgs, keys or teams, and it compares within one snapshot: a usage batch or a
top-up committing meanwhile is either wholly in it or wholly out of it.

What a counter holds (billing.usage.counters `_add_to_counters`): the spend and tokens of the usage
events *recorded* in its stored period, i.e. `received_at` in [period_start, period_end)
(`period_end` empty: forever). A counter whose period has ended but which no usage or reset
has started again still holds that period, and is checked against that period.

Only within the retained window (billing.retention): usage events are kept
USAGE_RETENTION_DAYS, so a counter is compared only when its period began inside the window,
which every current period with an end does (the retention outlasts the longest, a year). A
counter of a period that began earlier (a `never` period, or one that ended long ago and was not
used since) may have counted events no longer kept: it is counted as outside the window and
not compared. The command says which window it compared.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from billing.dbvalues import as_time, as_uuid, db_time
from billing.ledger.models import FindingKind, ReconciliationFinding
from billing.limits.models import Counter, ModelCounter
from billing.money import micros_to_money
from billing.usage.retention import usage_window_start
from gateway_console.models import Org

logger = logging.getLogger("billing.reconcile")

_WALLETS = """
SELECT o.id, o.slug, COALESCE(w.balance_micros, 0), COALESCE(e.total, 0), COALESCE(e.entries, 0)
FROM gateway_console_org o
LEFT JOIN billing_wallet w ON w.org_id = o.id
LEFT JOIN (
    SELECT org_id, SUM(amount_micros) AS total, COUNT(*) AS entries
    FROM billing_walletentry GROUP BY org_id
) e ON e.org_id = o.id
WHERE COALESCE(w.balance_micros, 0) <> COALESCE(e.total, 0)
ORDER BY o.slug
"""

# {owner} is "key_id" or "team_id": constants of this module, never input.
_COUNTERS = """
SELECT c.id, c.org_id, c.{owner}, c.kind, c.period_start, c.period_end, c.spend_micros, c.tokens,
       COALESCE(SUM(u.cost_micros), 0), COALESCE(SUM(u.input_tokens + u.output_tokens), 0)
FROM billing_counter c
LEFT JOIN billing_usageevent u
       ON u.{owner} = c.{owner}
      AND u.received_at >= c.period_start
      AND (c.period_end IS NULL OR u.received_at < c.period_end)
WHERE c.{owner} IS NOT NULL AND c.period_start >= %s
GROUP BY c.id, c.org_id, c.{owner}, c.kind, c.period_start, c.period_end, c.spend_micros, c.tokens
HAVING c.spend_micros <> COALESCE(SUM(u.cost_micros), 0)
    OR c.tokens <> COALESCE(SUM(u.input_tokens + u.output_tokens), 0)
ORDER BY c.id
"""


# A key's per-model counters (billing.limits.model_budgets) against its usage events of that
# model, in the same way.
_MODEL_COUNTERS = """
SELECT c.id, c.org_id, c.key_id, c.model, c.period_start, c.period_end, c.spend_micros, c.tokens,
       COALESCE(SUM(u.cost_micros), 0), COALESCE(SUM(u.input_tokens + u.output_tokens), 0)
FROM billing_modelcounter c
LEFT JOIN billing_usageevent u
       ON u.key_id = c.key_id
      AND u.model = c.model
      AND u.received_at >= c.period_start
      AND (c.period_end IS NULL OR u.received_at < c.period_end)
WHERE c.period_start >= %s
GROUP BY c.id, c.org_id, c.key_id, c.model, c.period_start, c.period_end, c.spend_micros, c.tokens
HAVING c.spend_micros <> COALESCE(SUM(u.cost_micros), 0)
    OR c.tokens <> COALESCE(SUM(u.input_tokens + u.output_tokens), 0)
ORDER BY c.id
"""


@dataclass
class Reconciliation:
    wallets: int = 0
    key_counters: int = 0
    team_counters: int = 0
    model_counters: int = 0
    window_start: datetime | None = None  # the oldest usage kept, and compared
    outside_window: int = 0  # counters whose period began before it: not compared
    findings: list[ReconciliationFinding] = field(default_factory=list)


def _money(micros: int) -> str:
    return f"${micros_to_money(micros)}"


def _wallet_findings(now: datetime) -> list[ReconciliationFinding]:
    with connection.cursor() as cursor:
        cursor.execute(_WALLETS)
        rows = cursor.fetchall()
    return [
        ReconciliationFinding(
            org_id=as_uuid(org_id),
            kind=FindingKind.WALLET,
            subject=str(as_uuid(org_id)),
            expected_micros=int(ledger_sum),
            actual_micros=int(balance),
            detail=(
                f"Wallet of {slug}: balance {_money(int(balance))}, but its {int(entries)}"
                f" ledger entries sum to {_money(int(ledger_sum))}."
            )[:300],
            found_at=now,
        )
        for org_id, slug, balance, ledger_sum, entries in rows
    ]


def _counter_findings(owner: str, now: datetime, since: datetime) -> list[ReconciliationFinding]:
    """owner: "key_id", "team_id", or "model" (the keys' per-model counters)."""
    kind, noun, sql = {
        "key_id": (FindingKind.KEY_COUNTER, "key", _COUNTERS.format(owner="key_id")),
        "team_id": (FindingKind.TEAM_COUNTER, "team", _COUNTERS.format(owner="team_id")),
        "model": (FindingKind.MODEL_COUNTER, "key", _MODEL_COUNTERS),
    }[owner]
    with connection.cursor() as cursor:
        cursor.execute(sql, [db_time(since)])
        rows = cursor.fetchall()
    findings = []
    for (
        _counter_id,
        org_id,
        owner_id,
        counter_kind,
        start,
        end,
        spend,
        tokens,
        events_spend,
        events_tokens,
    ) in rows:
        start, end, owner_id = as_time(start), as_time(end), as_uuid(owner_id)
        events_spend, events_tokens = int(events_spend), int(events_tokens)
        period = f"{start:%Y-%m-%d %H:%M}–{f'{end:%Y-%m-%d %H:%M}' if end else 'forever'} UTC"
        differences = []
        if spend != events_spend:
            differences.append(
                f"spend {_money(spend)} but its usage events cost {_money(events_spend)}"
            )
        if tokens != events_tokens:
            differences.append(f"tokens {tokens:,} but its usage events have {events_tokens:,}")
        findings.append(
            ReconciliationFinding(
                org_id=as_uuid(org_id),
                kind=kind,
                subject=str(owner_id),
                expected_micros=events_spend,
                actual_micros=spend,
                detail=(
                    f"The {counter_kind} counter of {noun} {owner_id} ({period}): "
                    + "; ".join(differences)
                    + "."
                )[:300],
                found_at=now,
            )
        )
    return findings


def reconcile_all(*, now: datetime | None = None) -> Reconciliation:
    """Checks every org's wallet and every key and team counter; records and logs each
    difference. Returns what was checked and what was found."""
    now = now or timezone.now()
    since = usage_window_start(now)
    in_window = Counter.objects.filter(period_start__gte=since)
    result = Reconciliation(
        wallets=Org.objects.count(),
        key_counters=in_window.filter(key__isnull=False).count(),
        team_counters=in_window.filter(team__isnull=False).count(),
        window_start=since,
        model_counters=ModelCounter.objects.filter(period_start__gte=since).count(),
        outside_window=Counter.objects.filter(period_start__lt=since).count()
        + ModelCounter.objects.filter(period_start__lt=since).count(),
    )
    result.findings = [
        *_wallet_findings(now),
        *_counter_findings("key_id", now, since),
        *_counter_findings("team_id", now, since),
        *_counter_findings("model", now, since),
    ]
    if result.findings:
        with transaction.atomic():
            ReconciliationFinding.objects.bulk_create(result.findings)
    for finding in result.findings:
        logger.warning(
            "reconcile: %s %s of org %s: expected %s, found %s. %s",
            finding.kind,
            finding.subject,
            finding.org_id,
            finding.expected_micros,
            finding.actual_micros,
            finding.detail,
        )
    return result
