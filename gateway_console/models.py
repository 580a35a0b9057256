import uuid
import zoneinfo
from datetime import timedelta

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone as dj_timezone

from gateway_console.limits import LimitPeriod
from gateway_console.secret import ShownAsPreview


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address. Platform staff are `is_superuser`."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=dj_timezone.now)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name such as Europe/Berlin.")


class Org(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    # Quota periods are aligned in this zone (billing).
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    plan = models.ForeignKey(
        "billing.Plan",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orgs",
        help_text="Empty: every priced model at multiplier 1.",
    )
    # Owners and admins must sign in with a second factor (accounts.two_factor). On for every
    # new org; orgs made before the setting existed keep it off until an owner turns it on.
    require_two_factor = models.BooleanField(
        "require two-factor for owners and admins", default=True
    )
    # None: the audit log is kept for good. Else an owner opted in to exporting, then pruning,
    # the events older than this many days, each time behind a signed checkpoint (audit.prune).
    audit_retention_days = models.PositiveIntegerField(
        "audit log retention (days)", null=True, blank=True
    )
    # Key hygiene out of 100 (keys.hygiene.score), kept by an hourly task for the key list's
    # header: counting every key on each page view would slow the list of a large org.
    hygiene_score = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now)

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=120)
    # Limits shared by all of the team's keys (enforced at authorize).
    spend_cap = models.DecimalField(
        "spend cap", max_digits=18, decimal_places=6, null=True, blank=True
    )
    token_limit = models.PositiveBigIntegerField(null=True, blank=True)
    limit_period = models.CharField(
        max_length=16, choices=LimitPeriod.choices, default=LimitPeriod.MONTHLY
    )
    rpm_limit = models.PositiveIntegerField("requests per minute", null=True, blank=True)
    # Need a gateway that reports usage (docs/contract.md section 2).
    tpm_limit = models.PositiveIntegerField("tokens per minute", null=True, blank=True)
    max_in_flight = models.PositiveIntegerField("requests in flight", null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="team_name_unique_in_org"),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    AUDITOR = "auditor", "Auditor"


class Membership(models.Model):
    """A user's role in one org; a member also belongs to some of the org's teams."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    teams = models.ManyToManyField(Team, blank=True, related_name="memberships")
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["org__name"]
        constraints = [
            models.UniqueConstraint(fields=["org", "user"], name="one_membership_per_org"),
            models.CheckConstraint(
                condition=models.Q(role__in=["owner", "admin", "member", "auditor"]),
                name="membership_role_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.org} ({self.role})"

    @property
    def can_change(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)

    @property
    def sees_whole_org(self) -> bool:
        return self.role != Role.MEMBER


class AdminToken(ShownAsPreview, models.Model):
    """A token for the admin API (docs/contract.md section 4), scoped to one org. Like a key, only
    `HMAC-SHA256(KEY_PEPPER, token)` is kept, with a display prefix and the last four characters;
    the plaintext exists only in the response that shows it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="admin_tokens")
    name = models.CharField(max_length=120)
    token_hash = models.CharField(max_length=64, unique=True)
    display_prefix = models.CharField(max_length=24)
    last4 = models.CharField(max_length=4)
    read_only = models.BooleanField(
        default=False, help_text="Read-only tokens may read everything but change nothing."
    )
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=dj_timezone.now)
    # Precise to LAST_USED_PRECISION: at most one write per token per interval.
    last_used_at = models.DateTimeField(null=True, blank=True)
    # A token stops working at this time (admin_tokens.EXPIRY_DEFAULT, at most EXPIRY_MAX).
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["org", "-created_at"], name="admin_token_org_created_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def access_label(self) -> str:
        return "Read-only" if self.read_only else "Read-write"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= dj_timezone.now()

    @property
    def status(self) -> str:
        """`active`, `expired` or `revoked` (a revoked token stays revoked past its expiry)."""
        if self.is_revoked:
            return "revoked"
        return "expired" if self.is_expired else "active"

    @property
    def days_left(self) -> int:
        """Days until it expires, rounded up (a new 90-day token has 90, one in its last day
        1); 0 once expired."""
        left = self.expires_at - dj_timezone.now()
        return max(-(-left // timedelta(days=1)), 0)


class AdminTokenShown(models.Model):
    """Records that the form which reveals a new admin token was processed, so that a reload or
    a resubmission never makes or shows another token. Holds no secret."""

    MADE = "token"  # what a nonce made (gateway_console.show_once)

    nonce = models.CharField(max_length=64, primary_key=True)
    token = models.ForeignKey(AdminToken, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=dj_timezone.now)

    def __str__(self) -> str:
        return f"admin token {self.token_id} shown at {self.created_at:%Y-%m-%d %H:%M}"
