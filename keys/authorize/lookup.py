"""Step 2 of authorize: the key, read by the hash of its secret, with everything the checks need.

One indexed query, prepared once per PostgreSQL connection; no model instances. Nothing is
cached, so a disabled, deleted or rotated key is refused from the very next request.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection

from billing.dbvalues import (
    as_decimal,
    as_dict,
    as_list,
    as_time,
    as_uuid,
    db_id,
    db_time,
    prepared_cursor,
)
from billing.limits.holds import CounterUse
from keys.models import increase_of

# One query: the key (by its current or grace hash), its org, plan, wallet, team, counters, and
# the price of the model asked for, with whether the plan allows it. Every join is one index
# lookup; on PostgreSQL the statement is prepared (billing.dbvalues.prepared_cursor), since
# planning nine joins costs several times more than running them: after its first five runs
# PostgreSQL keeps one generic plan for it.
_KEY_QUERY = """
SELECT k.id, k.org_id, k.team_id, k.name, k.user_id, k.type, k.profile, k.status, k.expires_at,
       k.model_scope, k.monthly_spend_cap, k.cost_limit, k.token_limit, k.limit_period,
       k.rpm_limit, k.last_used_at,
       o.timezone, p.id, p.name, p.price_multiplier,
       w.balance_micros, w.held_micros,
       t.spend_cap, t.token_limit, t.limit_period, t.rpm_limit,
       km.period_end, km.spend_micros, km.held_micros,
       kl.period_end, kl.spend_micros, kl.tokens, kl.held_micros,
       tl.period_end, tl.spend_micros, tl.tokens, tl.held_micros,
       mp.id, mp.input_per_million, mp.output_per_million, mp.max_output_tokens,
       k.allowed_ips, k.secret_hash = %(hash)s,
       k.increase_cap, k.increase_amount, k.increase_until,
       k.tpm_limit, k.max_in_flight, t.tpm_limit, t.max_in_flight,
       k.model_budgets, mc.period_end, mc.spend_micros, mc.held_micros,
       CASE WHEN p.id IS NULL THEN 1
            WHEN NOT EXISTS (SELECT 1 FROM billing_plan_models pm WHERE pm.plan_id = p.id) THEN 1
            WHEN EXISTS (SELECT 1 FROM billing_plan_models pm
                         WHERE pm.plan_id = p.id AND pm.modelprice_id = mp.id) THEN 1
            ELSE 0 END
FROM keys_key k
JOIN gateway_console_org o ON o.id = k.org_id
LEFT JOIN billing_plan p ON p.id = o.plan_id
LEFT JOIN billing_wallet w ON w.org_id = k.org_id
LEFT JOIN gateway_console_team t ON t.id = k.team_id
LEFT JOIN billing_counter km ON km.key_id = k.id AND km.kind = 'month'
LEFT JOIN billing_counter kl ON kl.key_id = k.id AND kl.kind = 'limit'
LEFT JOIN billing_counter tl ON tl.team_id = k.team_id AND tl.kind = 'limit'
LEFT JOIN billing_modelprice mp ON mp.model = %(model)s
LEFT JOIN billing_modelcounter mc ON mc.key_id = k.id AND mc.model = %(model)s
WHERE k.secret_hash = %(hash)s OR (k.grace_secret_hash = %(hash)s AND k.grace_until > %(now)s)
"""


@dataclass
class KeyRow:
    id: uuid.UUID
    org_id: uuid.UUID
    team_id: uuid.UUID | None
    name: str
    user_id: str
    type: str
    profile: str
    status: str
    expires_at: datetime | None
    model_scope: list
    # With a running temporary increase added (keys.increases).
    monthly_spend_cap: Decimal | None
    cost_limit: Decimal | None
    token_limit: int | None
    limit_period: str
    rpm_limit: int | None
    last_used_at: datetime | None
    org_timezone: str
    plan_id: int | None
    plan_name: str | None
    multiplier: Decimal
    wallet_balance: int
    wallet_held: int
    team_spend_cap: Decimal | None
    team_token_limit: int | None
    team_limit_period: str | None
    team_rpm_limit: int | None
    key_month: CounterUse
    key_limit: CounterUse
    team_limit: CounterUse
    model_price_id: int | None
    input_per_million: Decimal | None
    output_per_million: Decimal | None
    max_output_tokens: int | None
    allowed_ips: list
    # False: the request came with the old secret, in a rotation's grace period.
    current_secret: bool
    plan_allows_model: bool
    tpm_limit: int | None = None
    max_in_flight: int | None = None
    team_tpm_limit: int | None = None
    team_max_in_flight: int | None = None
    # {model: cap} of the key's per-model budgets, and the use of the asked model's.
    model_budgets: dict = field(default_factory=dict)
    model_use: CounterUse | None = None
    model: str | None = None  # the model asked for

    @property
    def model_budget(self) -> Decimal | None:
        """The key's budget for the model asked for (None: none), in exact decimals."""
        cap = self.model_budgets.get(self.model) if self.model else None
        return None if cap is None else Decimal(cap)

    @property
    def flow_limited(self) -> bool:
        """Tokens/min or requests in flight limit the key or its team: both need the gateway to
        report usage, and the model (its request's tokens are held at authorize)."""
        return bool(
            self.tpm_limit
            or self.max_in_flight
            or (self.team_id and (self.team_tpm_limit or self.team_max_in_flight))
        )


def _execute_key_query(cursor, key_hash: str, model: str | None, now: datetime) -> None:
    # PostgreSQL's text holds no NUL, so no priced model has one: such a name is looked up as
    # no model ("", which matches none) and refused as model_not_allowed, not a database error.
    if model and "\x00" in model:
        model = ""
    cursor.execute(_KEY_QUERY, {"model": model or "", "hash": key_hash, "now": db_time(now)})


def fetch_key(key_hash: str, model: str | None, now: datetime) -> KeyRow | None:
    # Prepared once per PostgreSQL connection (billing.dbvalues.prepared_cursor).
    with prepared_cursor() as cursor:
        _execute_key_query(cursor, key_hash, model, now)
        rows = cursor.fetchall()
    if not rows:
        return None
    r = rows[0]
    return KeyRow(
        id=as_uuid(r[0]),
        org_id=as_uuid(r[1]),
        team_id=as_uuid(r[2]),
        name=r[3],
        user_id=r[4],
        type=r[5],
        profile=r[6],
        status=r[7],
        expires_at=as_time(r[8]),
        model_scope=as_list(r[9]),
        monthly_spend_cap=_raised(as_decimal(r[10]), "monthly_spend_cap", r[43:46], now),
        cost_limit=_raised(as_decimal(r[11]), "cost_limit", r[43:46], now),
        token_limit=r[12],
        limit_period=r[13],
        rpm_limit=r[14],
        last_used_at=as_time(r[15]),
        org_timezone=r[16],
        plan_id=r[17],
        plan_name=r[18],
        multiplier=as_decimal(r[19]) if r[19] is not None else Decimal(1),
        wallet_balance=r[20] or 0,
        wallet_held=r[21] or 0,
        team_spend_cap=as_decimal(r[22]),
        team_token_limit=r[23],
        team_limit_period=r[24],
        team_rpm_limit=r[25],
        key_month=CounterUse.of(r[26], r[27], 0, r[28], now),
        key_limit=CounterUse.of(r[29], r[30], r[31], r[32], now),
        team_limit=CounterUse.of(r[33], r[34], r[35], r[36], now),
        model_price_id=r[37],
        input_per_million=as_decimal(r[38]),
        output_per_million=as_decimal(r[39]),
        max_output_tokens=r[40],
        allowed_ips=as_list(r[41]),
        current_secret=bool(r[42]),
        tpm_limit=r[46],
        max_in_flight=r[47],
        team_tpm_limit=r[48],
        team_max_in_flight=r[49],
        model=model or None,
        model_budgets=as_dict(r[50]),
        model_use=CounterUse.of(r[51], r[52], 0, r[53], now),
        plan_allows_model=bool(r[54]),
    )


def _raised(cap: Decimal | None, name: str, increase: tuple, now: datetime) -> Decimal | None:
    """`cap` with a running temporary increase of it added (keys.models.increase_of), in exact
    decimals on every database."""
    which, amount, until = increase
    if cap is None:
        return None
    return cap + increase_of(name, which, as_decimal(amount), as_time(until), now)


def touch_last_used(row: KeyRow, now: datetime) -> None:
    # At most one write per key per minute: skipped when the stored value is recent enough, and
    # conditional, so that concurrent requests cannot write twice.
    precision = timedelta(seconds=settings.LAST_USED_PRECISION)
    if row.last_used_at is not None and row.last_used_at > now - precision:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE keys_key SET last_used_at = %s WHERE id = %s AND (last_used_at IS NULL OR last_used_at <= %s)",
            [db_time(now), db_id(row.id), db_time(now - precision)],
        )
