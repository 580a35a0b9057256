"""Plans, model prices, the org wallet, period counters, holds and usage events.

Money in counters is integer micro-units (a millionth of a dollar), changed only by single
SQL statements; prices and multipliers are Decimal."""

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.money import DECIMAL_PLACES, MAX_DIGITS
from billing.pricing import micros_to_money
from gateway_console.models import Org, Team


class ModelPrice(models.Model):
    """What one model costs, per million tokens. A model with no price cannot be used."""

    model = models.CharField(max_length=100, unique=True)
    input_per_million = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
    output_per_million = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
    max_output_tokens = models.PositiveIntegerField(
        help_text="The model's longest answer; bounds a request's hold."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]
        constraints = [
            models.CheckConstraint(
                condition=Q(input_per_million__gte=0, output_per_million__gte=0),
                name="model_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.model


class Plan(models.Model):
    name = models.CharField(max_length=60, unique=True)
    price_multiplier = models.DecimalField(max_digits=8, decimal_places=4, default=1)
    models = models.ManyToManyField(
        ModelPrice,
        blank=True,
        related_name="plans",
        help_text="Models the plan may call; none chosen: every priced model.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_multiplier__gt=0), name="plan_multiplier_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Wallet(models.Model):
    """The org's prepaid balance. Usage debits it; open holds reserve part of it."""

    org = models.OneToOneField(
        Org, on_delete=models.PROTECT, primary_key=True, related_name="wallet"
    )
    balance_micros = models.BigIntegerField(default=0)
    held_micros = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(held_micros__gte=0), name="wallet_held_not_negative")
        ]

    def __str__(self) -> str:
        return f"wallet of {self.org_id}"


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


class Hold(models.Model):
    """A request's worst-case cost, reserved at authorize until its usage event settles it or
    HOLD_TTL passes (docs/contract.md section 2)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    request_id = models.CharField(max_length=100)
    key = models.ForeignKey("keys.Key", on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    amount_micros = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

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


class UsageEvent(models.Model):
    """What one request cost, as the gateway reported it. Kept after its key is deleted."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    request_id = models.CharField(max_length=100)
    key = models.ForeignKey("keys.Key", on_delete=models.PROTECT, related_name="usage_events")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=100)
    input_tokens = models.PositiveBigIntegerField()
    output_tokens = models.PositiveBigIntegerField()
    cost_micros = models.BigIntegerField()
    status_code = models.PositiveSmallIntegerField()
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "request_id"], name="usage_unique_request")
        ]
        indexes = [models.Index(fields=["key", "-occurred_at"], name="usage_key_time_idx")]

    def __str__(self) -> str:
        return self.request_id


class EntryKind(models.TextChoices):
    TOP_UP = "top_up", "Top-up"
    USAGE_DEBIT = "usage_debit", "Usage"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Adjustment"


class WalletEntry(models.Model):
    """One movement of an org's wallet. Append-only (database triggers, migration 0003):
    the wallet's balance always equals the sum of its entries."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="wallet_entries")
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    amount_micros = models.BigIntegerField(
        help_text="Positive adds to the balance, negative takes from it."
    )
    balance_after_micros = models.BigIntegerField()
    reason = models.CharField(max_length=300, blank=True)
    reference = models.CharField(
        max_length=100, blank=True, help_text="A usage batch, an invoice, a ticket…"
    )
    actor_type = models.CharField(max_length=16, blank=True)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["org", "-id"], name="wallet_entry_org_idx"),
            models.Index(fields=["org", "kind", "-id"], name="wallet_entry_org_kind_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="top_up", amount_micros__gt=0)
                | Q(kind="usage_debit", amount_micros__lte=0)
                | Q(kind="refund", amount_micros__gt=0)
                | (Q(kind="adjustment") & ~Q(amount_micros=0)),
                name="wallet_entry_sign_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_micros} for {self.org_id}"

    @property
    def amount(self) -> Decimal:
        return micros_to_money(self.amount_micros)

    @property
    def balance_after(self) -> Decimal:
        return micros_to_money(self.balance_after_micros)


class CounterPeriod(models.Model):
    """The totals of a counter's closed period, kept for the usage pages and for audits.

    Append-only, so it outlives what it counted: a deleted team's counters go, and its periods
    keep naming them (no database constraint on `counter` and `team`, which a delete would
    otherwise have to rewrite or remove)."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    counter = models.ForeignKey(
        Counter, on_delete=models.DO_NOTHING, db_constraint=False, related_name="periods"
    )
    key = models.ForeignKey(
        "keys.Key", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
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


class FindingKind(models.TextChoices):
    WALLET = "wallet", "Wallet balance differs from its ledger"
    KEY_COUNTER = "key_counter", "Key counter differs from its usage events"
    TEAM_COUNTER = "team_counter", "Team counter differs from its usage events"


class ReconciliationFinding(models.Model):
    """A difference found by reconcile_wallets: logged and shown to staff, never fixed silently."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=FindingKind.choices)
    subject = models.CharField(max_length=64, help_text="The wallet's org, the key or the team.")
    expected_micros = models.BigIntegerField(null=True, blank=True)
    actual_micros = models.BigIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    found_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-found_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}: expected {self.expected_micros}, found {self.actual_micros}"


class AlertSettings(models.Model):
    """What an org admin wants to be told about; every threshold is optional."""

    org = models.OneToOneField(
        Org, on_delete=models.CASCADE, primary_key=True, related_name="alert_settings"
    )
    wallet_below = models.DecimalField(
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        null=True,
        blank=True,
        help_text="Alert when the wallet balance falls below this amount.",
    )
    cap_at_80 = models.BooleanField("a key or team at 80% of a cap", default=True)
    cap_at_100 = models.BooleanField("a key or team at 100% of a cap", default=True)
    key_expiring = models.BooleanField("a key expiring within 7 days", default=True)
    email = models.BooleanField("email the org's owners and admins", default=True)
    webhook_url = models.URLField(
        blank=True, help_text="Also POST each alert here, signed with an HMAC header."
    )
    webhook_secret = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"alert settings of {self.org_id}"


class AlertKind(models.TextChoices):
    WALLET_LOW = "wallet_low", "Wallet low"
    KEY_CAP = "key_cap", "Key near or at a cap"
    TEAM_CAP = "team_cap", "Team near or at a cap"
    KEY_EXPIRING = "key_expiring", "Key expiring"


class Alert(models.Model):
    """An alert, raised once per threshold per period (the unique constraint), then sent."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    subject = models.CharField(max_length=64, help_text="The key, team or org it is about.")
    threshold = models.CharField(max_length=32, help_text="80, 100, the amount, or the expiry day.")
    period_start = models.DateTimeField(help_text="The period in which this threshold was crossed.")
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)
    webhook_delivered_at = models.DateTimeField(null=True, blank=True)
    webhook_attempts = models.PositiveSmallIntegerField(default=0)
    webhook_last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "kind", "subject", "threshold", "period_start"],
                name="alert_once_per_period",
            ),
        ]

    def __str__(self) -> str:
        return self.message


class UsageHourly(models.Model):
    """The usage of one key and model in one UTC hour, summed from its usage events: every
    usage chart and table reads these, never the events. Kept up to date by record_batch, in the
    batch's transaction; rebuilt from the events by billing.rollups.rebuild_rollups."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="+")
    key = models.ForeignKey("keys.Key", on_delete=models.PROTECT, related_name="+")
    # The key's team at the hour's first recorded event (a key moved mid-hour keeps the hour
    # with its old team).
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=100)
    hour = models.DateTimeField(help_text="The start of the hour, in UTC.")
    requests = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0, help_text="Requests with a status of 400 or more.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "model", "hour"], name="usage_hourly_once"),
        ]
        indexes = [
            models.Index(fields=["key", "hour"], name="usage_hourly_key_idx"),
            models.Index(fields=["org", "hour"], name="usage_hourly_org_idx"),
            models.Index(fields=["team", "hour"], name="usage_hourly_team_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key_id} {self.model} {self.hour:%Y-%m-%d %H}:00"


class TrafficKind(models.TextChoices):
    AUTHORIZE = "authorize", "Authorize decision"
    USAGE = "usage", "Usage event"


class TrafficMinute(models.Model):
    """How many authorize decisions (by outcome: `allowed`, `allowed_no_model` or the denial's
    code) and usage events (`recorded`, `duplicate`) one org had in one UTC minute: the gateway
    page's health figures. Counted in each web process and added here in one statement every
    few seconds (billing.traffic), never a write per request."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    minute = models.DateTimeField(help_text="The start of the minute, in UTC.")
    kind = models.CharField(max_length=16, choices=TrafficKind.choices)
    outcome = models.CharField(max_length=64)
    count = models.BigIntegerField(default=0)
    last_at = models.DateTimeField(help_text="The latest of these seen in this minute.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "minute", "kind", "outcome"], name="traffic_minute_once"
            ),
        ]
        indexes = [models.Index(fields=["org", "kind", "-minute"], name="traffic_org_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.outcome} {self.minute:%Y-%m-%d %H:%M}: {self.count}"
