"""Limits in use: the period counters of keys and teams, their closed periods, and the holds
authorize places on them.

Money in counters is integer micro-units (a millionth of a dollar), changed only by single SQL
statements."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from gateway_console.models import Org, Team


class CounterKind(models.TextChoices):
    MONTH = "month", "Calendar month (monthly spend cap)"
    LIMIT = "limit", "Reset period (cost and token limits)"


class Counter(models.Model):
    """Spend and tokens of one key or one team in its current period, and the holds open on it.
    An ended period counts as zero until the next usage or the reset task starts a new one."""

    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    key = models.ForeignKey(
        "keys.Key", null=True, blank=True, on_delete=models.PROTECT, related_name="counters"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="counters"
    )
    kind = models.CharField(max_length=8, choices=CounterKind.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(
        null=True, blank=True, help_text="Empty: the period never ends."
    )
    spend_micros = models.BigIntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    held_micros = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(key__isnull=False, team__isnull=True)
                | Q(key__isnull=True, team__isnull=False),
                name="counter_key_xor_team",
            ),
            models.UniqueConstraint(
                fields=["key", "kind"],
                condition=Q(key__isnull=False),
                name="counter_unique_key_kind",
            ),
            models.UniqueConstraint(
                fields=["team", "kind"],
                condition=Q(team__isnull=False),
                name="counter_unique_team_kind",
            ),
            models.CheckConstraint(
                condition=Q(spend_micros__gte=0, tokens__gte=0, held_micros__gte=0),
                name="counter_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} counter of {self.key_id or self.team_id}"


class ModelCounter(models.Model):
    """Spend and tokens of one key on one model in the key's reset period, against the key's
    budget for that model (Key.model_budgets), and the holds open on it. Exists while the
    budget does (billing.limits.model_budgets); an ended period counts as zero until the next
    usage starts a new one."""

    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    key = models.ForeignKey("keys.Key", on_delete=models.PROTECT, related_name="model_counters")
    model = models.CharField(max_length=100)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(
        null=True, blank=True, help_text="Empty: the period never ends."
    )
    spend_micros = models.BigIntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    held_micros = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "model"], name="model_counter_unique"),
            models.CheckConstraint(
                condition=Q(spend_micros__gte=0, tokens__gte=0, held_micros__gte=0),
                name="model_counter_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} counter of {self.key_id}"


class Hold(models.Model):
    """A request's worst-case cost, reserved at authorize until its usage event settles it or
    HOLD_TTL passes (docs/contract.md section 2)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # References kept by the code, as a usage event's (billing.usage.models.UsageEvent): a hold
    # is placed only for the key authorize has just read, and on_delete is Django's. A database
    # foreign key checked the org, key and team of every hold, one lookup each, on authorize's
    # path. `org` has no index of its own: hold_unique_request begins with it.
    org = models.ForeignKey(
        Org, on_delete=models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    request_id = models.CharField(max_length=100)
    key = models.ForeignKey(
        "keys.Key", on_delete=models.PROTECT, db_constraint=False, related_name="+"
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
    )
    amount_micros = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # The model whose budget the hold also reserves on (ModelCounter); empty: none.
    model = models.CharField(max_length=100, blank=True, default="")
    # The request also holds tokens/min or an in-flight place (billing.limits.ratelimit), which
    # its usage event settles.
    rate_limited = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "request_id"], name="hold_unique_request")
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(closed_at__isnull=True),
                name="hold_open_expiry_idx",
            ),
            # The gateway page: an org's open holds and the oldest of them.
            models.Index(
                fields=["org", "created_at"],
                condition=Q(closed_at__isnull=True),
                name="hold_open_org_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"hold {self.request_id}"


class CounterPeriod(models.Model):
    """The totals of a counter's closed period, kept for the usage pages and for audits.

    Append-only, so it outlives what it counted: a deleted team's counters go, and its periods
    keep naming them (no database constraint on `counter` and `team`, which a delete would
    otherwise have to rewrite or remove)."""

    id = models.BigAutoField(primary_key=True)
    # PROTECT is Django's (its delete collector); no database constraint on any reference: a
    # reset copies a period of every due counter at once, and 200,000 deferred reference checks
    # at its COMMIT cost as much as the copy itself. The rows are copies of counters whose own
    # references the database checks.
    org = models.ForeignKey(Org, on_delete=models.PROTECT, db_constraint=False, related_name="+")
    # No index of their own for `counter` and `key`: counter_period_once and
    # counter_period_key_idx begin with them (a reset writes each index of 200,000 rows).
    counter = models.ForeignKey(
        Counter,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="periods",
    )
    key = models.ForeignKey(
        "keys.Key",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    kind = models.CharField(max_length=8, choices=CounterKind.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    spend_micros = models.BigIntegerField()
    tokens = models.BigIntegerField()
    closed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["counter", "period_start"], name="counter_period_once"),
        ]
        indexes = [models.Index(fields=["key", "-period_start"], name="counter_period_key_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.period_start:%Y-%m-%d} of {self.key_id or self.team_id}"
