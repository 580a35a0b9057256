"""Admin API tokens (docs/contract.md section 4): the services that create and revoke them, each one
transaction with exactly one audit event, the reads the tokens page needs, and the check of a
token presented to the API.

Format: `sk-admin-` + 40 base62 characters of `secrets` randomness + 6 base62 characters of
checksum, the key format of section 1 with another prefix, so that a mistyped or made-up token
is refused without a database query. Stored: only `HMAC-SHA256(KEY_PEPPER, token)`.

Every token expires: its lifetime is chosen at creation, in whole days, from EXPIRY_MIN to
EXPIRY_MAX (EXPIRY_DEFAULT when not chosen). An expired token is refused like a revoked one.
"""

import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from gateway_console import recording, secret, show_once
from gateway_console.actors import Actor, client_ip
from gateway_console.models import AdminToken, AdminTokenShown, Membership, Org, Role
from gateway_console.paging import Column, Page, keyset_page

PREFIX = "sk-admin-"
# The prefix and six random characters, as a key's display prefix is `sk-gw-` and six.
DISPLAY_PREFIX_LENGTH = len(PREFIX) + 6
NAME_MAX_LENGTH = AdminToken._meta.get_field("name").max_length

# A token's lifetime, chosen at creation: the one rule for the console's form, the admin API and
# the command.
EXPIRY_DEFAULT = timedelta(days=90)
EXPIRY_MIN = timedelta(days=1)
EXPIRY_MAX = timedelta(days=365)
EXPIRY_RANGE_MESSAGE = (
    f"Choose from {EXPIRY_MIN.days} to {EXPIRY_MAX.days} days: a token lives at most a year."
)


def expiry_refusal(days) -> str | None:
    """Why a token may not live this many days, or None when it may."""
    if isinstance(days, bool) or not isinstance(days, int):
        return "Give the token's lifetime as a whole number of days."
    if not EXPIRY_MIN.days <= days <= EXPIRY_MAX.days:
        return EXPIRY_RANGE_MESSAGE
    return None


class AdminTokenActionRefused(Exception):
    """The action cannot be done to this token in its present state."""


class AdminTokenExpired(Exception):
    """The token presented to the API is known and not revoked, but expired."""

    def __init__(self, token: AdminToken):
        super().__init__("This admin token has expired.")
        self.expires_at = token.expires_at


class TokenAlreadyShown(Exception):
    """The form that reveals a new token was submitted a second time (a reload, the back
    button)."""

    def __init__(self, token: AdminToken):
        super().__init__("This admin token was already shown once.")
        self.token = token


# Services


@transaction.atomic
def create_admin_token(
    *,
    org: Org,
    actor: Actor,
    name: str,
    read_only: bool,
    expires_in_days: int = EXPIRY_DEFAULT.days,
    nonce: str | None = None,
) -> tuple[AdminToken, str]:
    """Creates a token that expires in `expires_in_days` and returns it with its plaintext,
    which is never stored."""
    name = name.strip()
    if not name:
        raise AdminTokenActionRefused("Give the token a name.")
    if len(name) > NAME_MAX_LENGTH:
        raise AdminTokenActionRefused(f"A token's name has at most {NAME_MAX_LENGTH} characters.")
    if (refused := expiry_refusal(expires_in_days)) is not None:
        raise AdminTokenActionRefused(refused)
    if (earlier := show_once.made_before(AdminTokenShown, nonce)) is not None:
        raise TokenAlreadyShown(earlier)
    plaintext = secret.new_secret(prefix=PREFIX)
    token = AdminToken.objects.create(
        org=org,
        name=name,
        token_hash=secret.secret_hash(plaintext),
        display_prefix=plaintext[:DISPLAY_PREFIX_LENGTH],
        last4=secret.last4(plaintext),
        read_only=read_only,
        created_by=actor.user,
        expires_at=timezone.now() + timedelta(days=expires_in_days),
    )
    if (earlier := show_once.claim(AdminTokenShown, nonce, token)) is not None:
        # A concurrent submission of the same form won: this one makes nothing.
        raise TokenAlreadyShown(earlier)
    recording.record(
        org=org,
        actor=actor,
        action="admin_token.created",
        target=token,
        data={
            "name": token.name,
            "preview": token.preview,
            "read_only": token.read_only,
            # In UTC, as audit.recorded keeps a time.
            "expires_at": token.expires_at.astimezone(UTC).isoformat(),
        },
    )
    return token, plaintext


@transaction.atomic
def revoke_admin_token(*, token: AdminToken, actor: Actor) -> AdminToken:
    """The token stops working at once; its row stays, so that the audit log keeps naming it."""
    token = (
        AdminToken.objects.select_for_update()
        .select_related("org")
        .get(pk=token.pk, org_id=token.org_id)
    )
    if token.is_revoked:
        raise AdminTokenActionRefused("This token is already revoked.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    recording.record(
        org=token.org,
        actor=actor,
        action="admin_token.revoked",
        target=token,
        data={"name": token.name, "preview": token.preview, "read_only": token.read_only},
    )
    return token


# Selectors


# Active tokens first, newest first; then the revoked, latest first.
TOKEN_ORDER = [
    Column("revoked_at", descending=True, nullable=True, nulls_first=True, kind=datetime),
    Column("created_at", descending=True, kind=datetime),
    Column("id", descending=True, kind=uuid.UUID),
]


def admin_tokens_page(
    membership: Membership, *, after: str = "", before: str = "", size: int = 100
) -> Page[AdminToken]:
    """The org's tokens, a keyset page at a time."""
    tokens = AdminToken.objects.filter(org=membership.org).select_related("created_by")
    return keyset_page(tokens, TOKEN_ORDER, after=after, before=before, size=size)


def admin_token_for(membership: Membership, token_id) -> AdminToken:
    """The token if it belongs to the membership's org; a 404 otherwise."""
    token = (
        AdminToken.objects.filter(org=membership.org, pk=token_id)
        .select_related("created_by")
        .first()
    )
    if token is None:
        raise Http404("No such admin token.")
    return token


# The API's check of a presented token


def active_token(plaintext: str) -> AdminToken | None:
    """The active token with this plaintext, or None when there is no such token or it is
    revoked; AdminTokenExpired when it has expired (refused all the same, with its own
    message). A malformed token or one whose checksum does not match is refused here without
    a database query (section 1's checksum rule). An expired token's last use stays as it was."""
    if not secret.is_well_formed(plaintext, prefix=PREFIX):
        return None
    token = (
        AdminToken.objects.select_related("org")
        .filter(token_hash=secret.secret_hash(plaintext), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    if token.is_expired:
        raise AdminTokenExpired(token)
    _note_use(token)
    return token


def _note_use(token: AdminToken) -> None:
    # last_used_at is precise to LAST_USED_PRECISION: a busy script writes at most once an
    # interval, and the conditional UPDATE keeps concurrent requests from writing it twice.
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.LAST_USED_PRECISION)
    if token.last_used_at is not None and token.last_used_at > stale_before:
        return
    AdminToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale_before)
    ).update(last_used_at=now)
    token.last_used_at = now


def actor_for(token: AdminToken, request) -> Actor:
    """Who an API call acts as: the token, named by its name and preview, never its secret."""
    return Actor(
        type="admin_token",
        id=str(token.pk),
        label=f"admin token {token.name} ({token.preview})",
        role="read-only" if token.read_only else "admin",
        ip_address=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:300],
        request_id=getattr(request, "request_id", ""),
    )


def membership_of(request) -> Membership:
    """What an admin-API call may see: the membership of the token it was made with."""
    return as_membership(request.auth)


def as_membership(token: AdminToken) -> Membership:
    """An unsaved membership that sees what the token may see (the whole org), so that the
    token reads through the same scoped selectors as the console's pages."""
    return Membership(org=token.org, role=Role.AUDITOR if token.read_only else Role.ADMIN)
