"""The `runs_out` alerts (billing.limits.forecast): a spend cap that, at the last week's pace,
is spent before its period resets; the wallet, spent within FORECAST_WALLET_DAYS. Raised
hourly (billing.tasks.forecast_alerts), once per cap and period (the wallet's: per week), under
the "80% of a cap" setting. These are billing's sources, teams' and the wallet's; the keys'
are keys.alerts.key_runs_out_alerts."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import F

from billing.alerts.common import BILLING_FORECAST_SOURCES
from billing.alerts.evaluation import Candidate, current_period, local_time, scoped, setting_of
from billing.alerts.models import AlertKind
from billing.ledger.models import Wallet
from billing.limits import forecast
from billing.limits.models import Counter, CounterKind
from billing.money import display, micros_to_money, money_to_micros
from billing.usage.rollups import week_spend
from gateway_console.models import Org

FORECAST_WALLET_DAYS = 7


def runs_out_message(what: str, runs_out: datetime, reset: datetime | None, tz: str) -> str:
    reset_text = f", before it resets at {local_time(reset, tz)}" if reset else ""
    return (
        f"At the last week's pace, {what} runs out around"
        f" {runs_out.astimezone(ZoneInfo(tz)).date()}"
        f"{reset_text}. Raise it, slow the spending down, or let it stop the requests then."
    )


def team_runs_out_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    rows = (
        scoped(Counter.objects.filter(team__isnull=False, kind=CounterKind.LIMIT), org)
        .filter(current_period(now), team__spend_cap__isnull=False)
        .values(
            "org_id",
            "org__timezone",
            "team_id",
            "team__name",
            "team__spend_cap",
            "spend_micros",
            "period_start",
            "period_end",
        )
    )
    week = week_spend(org.pk if org else None, by="team", now=now)  # every org's, at once
    candidates = []
    for row in rows:
        if not setting_of(org_settings, row["org_id"]).cap_at_80:
            continue
        left = money_to_micros(row["team__spend_cap"]) - row["spend_micros"]
        when = forecast.runs_out(left, week.get(row["team_id"], 0), now)
        if left > 0 and forecast.before(when, row["period_end"]):
            what = f"team “{row['team__name']}”'s spend cap"
            candidates.append(
                Candidate(
                    org_id=row["org_id"],
                    kind=AlertKind.RUNS_OUT,
                    subject=f"{row['team_id']}/team_spend_cap",
                    threshold="before_reset",
                    period_start=row["period_start"],
                    message=runs_out_message(what, when, row["period_end"], row["org__timezone"]),
                )
            )
    return candidates


def wallet_runs_out_alerts(now: datetime, org: Org | None, org_settings: dict) -> list[Candidate]:
    wallets = scoped(Wallet.objects.all(), org).annotate(
        left=F("balance_micros") - F("held_micros")
    )
    week_start = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    week = week_spend(org.pk if org else None, by="org", now=now)  # every org's, at once
    candidates = []
    for wallet in wallets.select_related("org"):
        if wallet.left <= 0 or not setting_of(org_settings, wallet.org_id).cap_at_80:
            continue
        when = forecast.runs_out(wallet.left, week.get(wallet.org_id, 0), now)
        if when is not None and when < now + timedelta(days=FORECAST_WALLET_DAYS):
            left = display(micros_to_money(wallet.left))
            candidates.append(
                Candidate(
                    org_id=wallet.org_id,
                    kind=AlertKind.RUNS_OUT,
                    subject=f"{wallet.org_id}/wallet",
                    threshold="within_a_week",
                    period_start=week_start,
                    message=runs_out_message(
                        f"the wallet ({left} left)", when, None, wallet.org.timezone
                    ),
                )
            )
    return candidates


BILLING_FORECAST_SOURCES[:] = [(10, wallet_runs_out_alerts), (30, team_runs_out_alerts)]
