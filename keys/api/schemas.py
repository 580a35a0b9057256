"""The admin API's shapes for keys, their usage and the request log (docs/contract.md section
4). Input constraints are read off KeyForm's fields, so the OpenAPI document says what the form
will check."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from django.conf import settings
from ninja import Field, Schema
from pydantic import ConfigDict, StringConstraints

from billing.limits.periods import LimitPeriod
from billing.money import micros_to_money, money_text
from billing.usage.models import UsageEvent
from gateway_console.api_schemas import UtcDatetime
from keys import allowlist
from keys.forms import MODEL_NAME, KeyForm
from keys.models import IncreasableCap, Key, KeyStatus, KeyType

# Constraints documented in the OpenAPI document are read off KeyForm's fields, which stay
# the authority: the form validates every key the API creates or changes.
_FIELDS = KeyForm.base_fields
LIMIT_FIELDS = (
    "monthly_spend_cap",
    "cost_limit",
    "token_limit",
    "limit_period",
    "rpm_limit",
    "model_budgets",
    "tpm_limit",
    "max_in_flight",
    "increase_cap",
    "increase_amount",
    "increase_until",
)

ModelName = Annotated[str, StringConstraints(pattern=MODEL_NAME.pattern)]
# An address or CIDR range; keys.allowlist says whether it is one.
Network = Annotated[str, StringConstraints(min_length=1, max_length=50)]
AllowedIps = Annotated[
    list[Network],
    Field(
        max_length=allowlist.MAX_ENTRIES,
        description="IPv4 and IPv6 addresses and CIDR ranges the key may be used from; empty: "
        "any. Refused elsewhere with 403 `ip_not_allowed` at authorize.",
    ),
]


def _money_type(field: str):
    rules = _FIELDS[field]
    return Annotated[
        Decimal,
        Field(
            ge=rules.min_value,
            le=rules.max_value,
            max_digits=rules.max_digits,
            decimal_places=rules.decimal_places,
            description='An amount in USD; a decimal string such as `"100.00"` is best.',
        ),
    ]


MonthlySpendCap = _money_type("monthly_spend_cap")
CostLimit = _money_type("cost_limit")
IncreaseAmount = _money_type("increase_amount")
ModelBudgets = Annotated[
    dict[ModelName, MonthlySpendCap],
    Field(
        max_length=50,
        description="{model: USD for the reset period}; each model's spend is capped beside "
        "the key's own caps. `{}`: none.",
    ),
]
RotateEvery = Annotated[int, Field(ge=1, le=365, description="Days between scheduled rotations.")]
Overlap = Annotated[
    int,
    Field(ge=0, le=settings.ROTATION_GRACE_MAX_HOURS, description="Hours of grace at each."),
]
TokenLimit = Annotated[
    int, Field(ge=_FIELDS["token_limit"].min_value, le=_FIELDS["token_limit"].max_value)
]
RpmLimit = Annotated[
    int, Field(ge=_FIELDS["rpm_limit"].min_value, le=_FIELDS["rpm_limit"].max_value)
]
TpmLimit = Annotated[
    int, Field(ge=_FIELDS["tpm_limit"].min_value, le=_FIELDS["tpm_limit"].max_value)
]
MaxInFlight = Annotated[
    int, Field(ge=_FIELDS["max_in_flight"].min_value, le=_FIELDS["max_in_flight"].max_value)
]
FLOW_DESCRIPTION = (
    "Needs a gateway that reports usage: through one that does not, authorize refuses the key "
    "with 403 `usage_reports_required`."
)
Name = Annotated[str, Field(min_length=1, max_length=_FIELDS["name"].max_length)]
UserId = Annotated[str, Field(max_length=_FIELDS["user_id"].max_length)]
Profile = Annotated[str, Field(max_length=_FIELDS["profile"].max_length)]

MONEY_DESCRIPTION = 'USD as a decimal string, to the micro-unit (`"100.000000"`); null: none.'


# Output


class LimitsOut(Schema):
    monthly_spend_cap: str | None = Field(description=MONEY_DESCRIPTION)
    cost_limit: str | None = Field(description=MONEY_DESCRIPTION)
    token_limit: int | None
    limit_period: LimitPeriod = Field(description="When cost and token counters restart.")
    rpm_limit: int | None = Field(description="Requests per minute; null: no limit.")
    model_budgets: dict[str, str] = Field(
        description="A spend cap per model for the reset period, beside the key's own: "
        f"{{model: amount}}. {MONEY_DESCRIPTION} Past it, authorize answers 402 "
        "`model_budget_exceeded` for that model."
    )
    tpm_limit: int | None = Field(
        description=f"Tokens per minute, over any rolling 60 s; null: no limit. {FLOW_DESCRIPTION}"
    )
    max_in_flight: int | None = Field(
        description=f"Requests at once, from authorize to usage; null: no limit. {FLOW_DESCRIPTION}"
    )
    increase_cap: IncreasableCap | None = Field(
        description="The cap a temporary increase raises; null: none."
    )
    increase_amount: str | None = Field(description=f"What it adds. {MONEY_DESCRIPTION}")
    increase_until: datetime | None = Field(description="When it lapses, by itself.")


class KeyOut(Schema):
    id: UUID
    name: str
    preview: str = Field(description="Display prefix … last 4 characters: `sk-gw-4fQz9A…x7Kp`.")
    team: UUID | None = Field(description="The team's id; null: no team.")
    user_id: str = Field(description="Your own identifier of the key's holder.")
    status: KeyStatus
    type: KeyType
    profile: str | None = Field(description="The routing profile of a profile key.")
    model_scope: list[str] = Field(description="Models the key may call; empty: all of the plan.")
    allowed_ips: list[str] = Field(
        description="Addresses and CIDR ranges the key may be used from; empty: any."
    )
    rotate_every_days: int | None = Field(description="Scheduled rotation; null: none.")
    rotation_overlap_hours: int
    rotation_due_at: datetime | None
    limits: LimitsOut
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None = Field(description="Precise to a minute.")


class KeyWithSecretOut(KeyOut):
    key: str = Field(description="The key itself. Shown only in this response: store it now.")


class RotatedKeyOut(KeyWithSecretOut):
    old_key_valid_until: datetime | None = Field(
        description="When the old key stops working; null: it already has."
    )


class KeyPageOut(Schema):
    data: list[KeyOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


class KeyListOut(Schema):
    data: list[KeyOut]


def key_out(key: Key) -> dict:
    return {
        "id": key.pk,
        "name": key.name,
        "preview": key.preview,
        "team": key.team_id,
        "user_id": key.user_id,
        "status": key.effective_status,
        "type": key.type,
        "profile": key.profile or None,
        "model_scope": list(key.model_scope),
        "allowed_ips": list(key.allowed_ips),
        "rotate_every_days": key.rotate_every_days,
        "rotation_overlap_hours": key.rotation_overlap_hours,
        "rotation_due_at": key.rotation_due_at,
        "limits": {
            "monthly_spend_cap": money_text(key.monthly_spend_cap),
            "cost_limit": money_text(key.cost_limit),
            "token_limit": key.token_limit,
            "limit_period": key.limit_period,
            "rpm_limit": key.rpm_limit,
            "model_budgets": dict(key.model_budgets),
            "tpm_limit": key.tpm_limit,
            "max_in_flight": key.max_in_flight,
            "increase_cap": key.increase_cap or None,
            "increase_amount": money_text(key.increase_amount),
            "increase_until": key.increase_until,
        },
        "expires_at": key.expires_at,
        "created_at": key.created_at,
        "updated_at": key.updated_at,
        "last_used_at": key.last_used_at,
    }


# Input


class LimitsIn(Schema):
    model_config = ConfigDict(extra="forbid")

    monthly_spend_cap: MonthlySpendCap | None = None
    cost_limit: CostLimit | None = None
    token_limit: TokenLimit | None = None
    limit_period: LimitPeriod = LimitPeriod.MONTHLY
    rpm_limit: RpmLimit | None = None
    model_budgets: ModelBudgets = Field(default_factory=dict)
    tpm_limit: TpmLimit | None = None
    max_in_flight: MaxInFlight | None = None
    increase_cap: IncreasableCap | None = None
    increase_amount: IncreaseAmount | None = None
    increase_until: UtcDatetime | None = None


class KeyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Name
    team: UUID | None = Field(default=None, description="A team of the org, by id.")
    user_id: UserId = ""
    type: KeyType = KeyType.STANDARD
    profile: Profile | None = Field(default=None, description="Required for `profile` keys.")
    model_scope: list[ModelName] = Field(default_factory=list)
    allowed_ips: AllowedIps = Field(default_factory=list)
    rotate_every_days: RotateEvery | None = None
    rotation_overlap_hours: Overlap = 0
    limits: LimitsIn = Field(default_factory=LimitsIn)
    expires_at: UtcDatetime | None = Field(default=None, description="With its UTC offset.")


# PATCH: a field that is left out stays as it is. Fields that cannot be null default to None
# without allowing it (pydantic does not validate defaults), so an explicit null is refused.


class LimitsPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    monthly_spend_cap: MonthlySpendCap | None = None
    cost_limit: CostLimit | None = None
    token_limit: TokenLimit | None = None
    limit_period: LimitPeriod = None  # type: ignore[assignment]
    rpm_limit: RpmLimit | None = None
    model_budgets: ModelBudgets = None  # type: ignore[assignment]
    tpm_limit: TpmLimit | None = None
    max_in_flight: MaxInFlight | None = None
    increase_cap: IncreasableCap | None = None
    increase_amount: IncreaseAmount | None = None
    increase_until: UtcDatetime | None = None


class KeyPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: Name = None  # type: ignore[assignment]
    team: UUID | None = None
    user_id: UserId = None  # type: ignore[assignment]
    type: KeyType = None  # type: ignore[assignment]
    profile: Profile | None = None
    model_scope: list[ModelName] = None  # type: ignore[assignment]
    allowed_ips: AllowedIps = None  # type: ignore[assignment]
    rotate_every_days: RotateEvery | None = None
    rotation_overlap_hours: Overlap = None  # type: ignore[assignment]
    limits: LimitsPatch = None  # type: ignore[assignment]
    expires_at: UtcDatetime | None = None


class RotateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    grace_hours: int = Field(
        default=0,
        ge=0,
        le=settings.ROTATION_GRACE_MAX_HOURS,
        description="Hours the old key keeps working; 0: it stops at once.",
    )


class BatchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    action: Literal["disable", "enable", "delete", "move"]
    keys: list[UUID] = Field(min_length=1, max_length=1000)
    team: UUID | None = Field(
        default=None, description="For `move`: the team to move the keys to; null: no team."
    )


# Usage


class UsageBucketOut(Schema):
    start: datetime = Field(description="The bucket's start, in the org's time zone.")
    model: str | None = Field(description="With `by_model`: the model; else null.")
    requests: int
    input_tokens: int
    output_tokens: int
    cost: str = Field(description="USD as a decimal string, to the micro-unit.")


class UsageOut(Schema):
    key: UUID
    granularity: Literal["hour", "day"]
    from_: datetime = Field(alias="from")
    to: datetime
    timezone: str = Field(description="The org's time zone, in which buckets are aligned.")
    data: list[UsageBucketOut] = Field(
        description="Oldest first; buckets without requests left out."
    )


# The request log

RequestId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]+$")]


class RequestOut(Schema):
    request_id: str
    key: UUID
    key_name: str
    key_preview: str
    key_status: KeyStatus
    team: UUID | None
    model: str
    input_tokens: int
    output_tokens: int
    cost: str = Field(description="USD as a decimal string, to the micro-unit.")
    status_code: int
    latency_ms: int | None
    occurred_at: datetime
    received_at: datetime


def request_out(event: UsageEvent) -> dict:
    return {
        "request_id": event.request_id,
        "key": event.key_id,
        "key_name": event.key.name,
        "key_preview": event.key.preview,
        "key_status": event.key.effective_status,
        "team": event.team_id,
        "model": event.model,
        "input_tokens": event.input_tokens,
        "output_tokens": event.output_tokens,
        "cost": str(micros_to_money(event.cost_micros)),
        "status_code": event.status_code,
        "latency_ms": event.latency_ms,
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
    }
