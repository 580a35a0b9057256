"""What things cost and the money: model prices, plans, the org wallet, its append-only
ledger and the findings of its reconciliation.

Money in counters is integer micro-units (a millionth of a dollar), changed only by single SQL
statements; prices and multipliers are Decimal."""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.money import DECIMAL_PLACES, MAX_DIGITS, micros_to_money
from gateway_console.models import Org


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


class FindingKind(models.TextChoices):
    WALLET = "wallet", "Wallet balance differs from its ledger"
    KEY_COUNTER = "key_counter", "Key counter differs from its usage events"
    TEAM_COUNTER = "team_counter", "Team counter differs from its usage events"
    MODEL_COUNTER = "model_counter", "Key's model budget counter differs from its usage events"


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
