import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from billing.limits.periods import LimitPeriod
from billing.money import DECIMAL_PLACES, MAX_DIGITS
from gateway_console.models import Org, Team
from gateway_console.secret import ShownAsPreview


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    # Never stored: an active key past its expiration is shown (and answers) as expired.
    EXPIRED = "expired", "Expired"
    DELETED = "deleted", "Deleted"


class KeyType(models.TextChoices):
    STANDARD = "standard", "Standard"
    PROFILE = "profile", "Profile"
    # Never works: planted where a thief would look; its first use alerts (keys.canary).
    CANARY = "canary", "Canary"


def increase_of(cap: str, which: str, amount, until: datetime | None, now: datetime) -> Decimal:
    """The one rule of a temporary increase: what it adds to `cap` at `now`, in exact decimals
    (Key.increase_of, and authorize's lookup on plain values)."""
    running = bool(which) and which == cap and until is not None and until > now
    return amount if running else Decimal(0)


class IncreasableCap(models.TextChoices):
    MONTHLY_SPEND_CAP = "monthly_spend_cap", "Monthly spend cap"
    COST_LIMIT = "cost_limit", "Cost limit"


class Key(ShownAsPreview, models.Model):
    """An API key. Only `HMAC-SHA256(KEY_PEPPER, key)` is kept, with a display prefix and
    the last four characters; the plaintext exists only in the response that shows it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: every index of the table starts with the org (Meta.indexes).
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="keys", db_index=False)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="keys"
    )
    name = models.CharField(max_length=120)
    user_id = models.CharField("user ID", max_length=200, blank=True)
    type = models.CharField(max_length=16, choices=KeyType.choices, default=KeyType.STANDARD)
    profile = models.CharField("routing profile", max_length=100, blank=True)

    # Unique through Meta.constraints: a field's unique=True would add a second index, for LIKE
    # (varchar_pattern_ops), which a hash never needs; each index is written again whenever
    # authorize notes a key's last use.
    secret_hash = models.CharField(max_length=64)
    display_prefix = models.CharField(max_length=16)
    last4 = models.CharField(max_length=4)
    # After a rotation with a grace period, the old secret keeps working until grace_until.
    # NULL, not "", when there is none: the unique constraint admits any number of NULLs.
    grace_secret_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    grace_until = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=16, choices=KeyStatus.choices, default=KeyStatus.ACTIVE)
    model_scope = models.JSONField(
        default=list, blank=True, help_text="Empty: every model of the plan."
    )
    monthly_spend_cap = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, null=True, blank=True
    )
    cost_limit = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, null=True, blank=True
    )
    # A temporary increase: `increase_cap` (one of INCREASABLE_CAPS) is raised by
    # `increase_amount` until `increase_until`, then lapses by itself (keys.increases).
    increase_cap = models.CharField(max_length=32, choices=IncreasableCap.choices, blank=True)
    increase_amount = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, null=True, blank=True
    )
    increase_until = models.DateTimeField(null=True, blank=True)
    token_limit = models.PositiveBigIntegerField(null=True, blank=True)
    limit_period = models.CharField(
        max_length=16, choices=LimitPeriod.choices, default=LimitPeriod.MONTHLY
    )
    rpm_limit = models.PositiveIntegerField("requests per minute", null=True, blank=True)
    # A spend cap per model for the reset period, beside the key's own: {model: "50.000000"}
    # (billing.limits.model_budgets keeps their counters).
    model_budgets = models.JSONField("budgets per model", default=dict, blank=True)
    # Tokens per minute and requests in flight need a gateway that reports usage: authorize
    # refuses a key with either through one that does not (docs/contract.md section 2).
    tpm_limit = models.PositiveIntegerField("tokens per minute", null=True, blank=True)
    max_in_flight = models.PositiveIntegerField("requests in flight", null=True, blank=True)
    # Addresses and CIDR ranges the key may be used from (keys.allowlist); empty: any.
    allowed_ips = models.JSONField("allowed addresses", default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    # Scheduled rotation: due every `rotate_every_days` after the last rotation (or creation);
    # the key's admins are emailed a link that rotates it with `rotation_overlap_hours` of grace.
    rotate_every_days = models.PositiveIntegerField(null=True, blank=True)
    rotation_overlap_hours = models.PositiveSmallIntegerField(default=0)
    # Reported leaked (keys.leaks): when first, and where it was found.
    leaked_at = models.DateTimeField(null=True, blank=True)
    leaked_url = models.CharField(max_length=500, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["secret_hash"], name="key_secret_hash_unique"),
            models.UniqueConstraint(
                fields=["grace_secret_hash"], name="key_grace_secret_hash_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "disabled", "deleted"]), name="key_status_stored"
            ),
            models.CheckConstraint(
                condition=Q(increase_cap="", increase_amount=None, increase_until=None)
                | ~Q(increase_cap="") & Q(increase_amount__gt=0) & Q(increase_until__isnull=False),
                name="key_increase_whole",
            ),
            models.CheckConstraint(
                condition=Q(type__in=["standard", "canary"], profile="")
                | Q(type="profile") & ~Q(profile=""),
                name="key_profile_matches_type",
            ),
            models.CheckConstraint(
                condition=Q(monthly_spend_cap__isnull=True) | Q(monthly_spend_cap__gt=0),
                name="key_monthly_cap_positive",
            ),
            models.CheckConstraint(
                condition=Q(cost_limit__isnull=True) | Q(cost_limit__gt=0),
                name="key_cost_limit_positive",
            ),
        ]
        indexes = [
            # Keyset pagination of the keys table, one index per sort order (and per filter).
            # "Recently used" (last_used_at DESC NULLS LAST) has its index in migration 0002,
            # on PostgreSQL only: SQLite cannot index NULLS LAST.
            models.Index(
                F("org"), F("created_at").desc(), F("id").desc(), name="key_org_created_idx"
            ),
            models.Index(F("org"), F("name"), F("id"), name="key_org_name_idx"),
            models.Index(
                F("org"),
                F("team"),
                F("created_at").desc(),
                F("id").desc(),
                name="key_org_team_created_idx",
            ),
            models.Index(
                F("org"),
                F("status"),
                F("created_at").desc(),
                F("id").desc(),
                name="key_org_status_created_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_status(self) -> str:
        if (
            self.status == KeyStatus.ACTIVE
            and self.expires_at
            and self.expires_at <= timezone.now()
        ):
            return KeyStatus.EXPIRED
        return self.status

    @property
    def effective_status_label(self) -> str:
        return KeyStatus(self.effective_status).label

    @property
    def is_deleted(self) -> bool:
        return self.status == KeyStatus.DELETED

    @property
    def rotation_due_at(self) -> datetime | None:
        """When the scheduled rotation is due (None: no schedule)."""
        if not self.rotate_every_days:
            return None
        return (self.rotated_at or self.created_at) + timedelta(days=self.rotate_every_days)

    def increase_of(self, cap: str, now: datetime) -> Decimal:
        """What a running temporary increase adds to `cap` at `now` (0 when none runs)."""
        return increase_of(cap, self.increase_cap, self.increase_amount, self.increase_until, now)

    def effective_cap(self, cap: str, now: datetime) -> Decimal | None:
        """`cap` as authorize applies it at `now`: with a running increase added."""
        value = getattr(self, cap)
        return None if value is None else value + self.increase_of(cap, now)

    @property
    def is_legacy(self) -> bool:
        """A key with no limits at all (docs/contract.md section 1), shown as such. Not a
        canary: it never works, so it needs none."""
        return self.type != KeyType.CANARY and not any(
            [
                self.model_scope,
                self.monthly_spend_cap,
                self.cost_limit,
                self.token_limit,
                self.rpm_limit,
                self.model_budgets,
                self.tpm_limit,
                self.max_in_flight,
                self.expires_at,
            ]
        )

    @property
    def budgets(self) -> list[tuple[str, Decimal]]:
        """The per-model budgets, (model, cap) in exact decimals."""
        return [(model, Decimal(cap)) for model, cap in self.model_budgets.items()]

    @property
    def in_grace(self) -> bool:
        return bool(
            self.grace_secret_hash and self.grace_until and self.grace_until > timezone.now()
        )


class SecretShown(models.Model):
    """Records that the form which reveals a secret (create, rotate) was processed, so that a
    reload or a resubmission never makes or shows another secret. Holds no secret."""

    MADE = "key"  # what a nonce made (gateway_console.show_once)

    nonce = models.CharField(max_length=64, primary_key=True)
    key = models.ForeignKey(Key, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"secret of key {self.key_id} shown at {self.created_at:%Y-%m-%d %H:%M}"


class KeySighting(models.Model):
    """An address and user agent a key was presented from at authorize, and when last
    (keys.sightings): the key page's "seen from", its offer to allow an address, and who still
    uses the old secret during a rotation's grace. Written at most once a minute per key,
    address, user agent and secret by each web process; pruned after KEY_SIGHTING_RETENTION_DAYS."""

    key = models.ForeignKey(Key, on_delete=models.CASCADE, related_name="sightings")
    # "" when the gateway did not pass an address the console could read.
    address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # Presented with the secret a rotation replaced, during its grace period.
    old_secret = models.BooleanField(default=False)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "address", "user_agent", "old_secret"], name="key_sighting_unique"
            )
        ]
        indexes = [models.Index(fields=["key", "-last_seen"], name="key_sighting_recent_idx")]

    def __str__(self) -> str:
        return f"{self.key} from {self.address or 'an unknown address'}"
