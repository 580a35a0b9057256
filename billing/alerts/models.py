"""Alerts and each org's alert settings."""

from django.db import models
from django.utils import timezone

from billing.money import DECIMAL_PLACES, MAX_DIGITS
from gateway_console.models import Org


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
    key_expiring = models.BooleanField("a key or admin token expiring within 7 days", default=True)
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
    ADMIN_TOKEN_EXPIRING = "admin_token_expiring", "Admin token expiring"
    KEY_CANARY = "key_canary", "Canary key used"
    KEY_LEAKED = "key_leaked", "Key leaked"
    RUNS_OUT = "runs_out", "Runs out before its reset"
    KEY_ROTATION_DUE = "key_rotation_due", "Key rotation due"


class Alert(models.Model):
    """An alert, raised once per threshold per period (the unique constraint), then sent."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
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
