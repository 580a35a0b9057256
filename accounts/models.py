import uuid

from django.db import models
from django.utils import timezone as dj_timezone

from gateway_console.models import Org, Role, Team, User


class Invitation(models.Model):
    """An invitation to join an org, sent by email as a signed link (accounts.invitations).
    The link carries the invitation's id and its `link_version`; resending makes a new version,
    so that only the newest link works, and accepting or revoking ends it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    teams = models.ManyToManyField(Team, blank=True, related_name="+")
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=dj_timezone.now)
    sent_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField()
    link_version = models.PositiveIntegerField(default=1)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open invitation per person and org: inviting again resends it.
            models.UniqueConstraint(
                fields=["org", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation_per_email",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=["owner", "admin", "member", "auditor"]),
                name="invitation_role_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.org} ({self.role})"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= dj_timezone.now()

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "pending"
