"""Key hygiene (the Hygiene page, and its score on the key list): the org's keys, admin tokens
and people that want attention, each finding with its fix.

A key is counted once however many findings it has; deleted keys and canaries (which never
work) are left out. The score is the share of live keys with no finding, out of 100, less
SCORE_PER_PERSON for each owner or admin without two-factor, never below 0."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from gateway_console.models import AdminToken, Membership, Org, Role
from keys.models import Key, KeyStatus, KeyType

UNUSED_DAYS = 90
ROTATE_DAYS = 365
SCORE_PER_PERSON = 5
SHOWN = 200


@dataclass
class Finding:
    code: str
    title: str
    why: str
    fix: str  # "expire", "disable", "rotate", "settings", "security", or "" (nothing to do)
    rows: list = field(default_factory=list)
    count: int = 0


def live_keys(org: Org) -> QuerySet[Key]:
    return (
        Key.objects.filter(org=org)
        .exclude(status=KeyStatus.DELETED)
        .exclude(type=KeyType.CANARY)
        .select_related("team")
        .order_by("name", "id")
    )


def _key_rules(org: Org, now: datetime) -> list[tuple[str, str, str, str, Q]]:
    member = Membership.objects.filter(org=org, user=OuterRef("created_by"))
    gone = Q(created_by__isnull=False) & ~Q(Exists(member))
    never_used_since = Q(
        last_used_at__isnull=True, created_at__lt=now - timedelta(days=UNUSED_DAYS)
    )
    return [
        (
            "no_expiry",
            "Keys without an expiry",
            "A key that never expires outlives the app it was made for.",
            "expire",
            Q(expires_at__isnull=True),
        ),
        (
            "no_cap",
            "Keys without a spend cap",
            "Nothing but the wallet stops a leaked or looping key.",
            "settings",
            Q(monthly_spend_cap__isnull=True, cost_limit__isnull=True, token_limit__isnull=True),
        ),
        (
            "unused",
            f"Keys unused for {UNUSED_DAYS} days",
            "A key nobody uses is only a risk.",
            "disable",
            Q(status=KeyStatus.ACTIVE)
            & (Q(last_used_at__lt=now - timedelta(days=UNUSED_DAYS)) | never_used_since),
        ),
        (
            "not_rotated",
            "Keys not rotated for a year",
            "The longer a secret lives, the more places it has been copied to.",
            "rotate",
            Q(rotated_at__lt=now - timedelta(days=ROTATE_DAYS))
            | Q(rotated_at__isnull=True, created_at__lt=now - timedelta(days=ROTATE_DAYS)),
        ),
        (
            "wide_scope",
            "Keys that may call every model",
            "A model scope keeps a key to what its app needs.",
            "settings",
            Q(model_scope=[]),
        ),
        (
            "creator_gone",
            "Keys made by someone who has left",
            "Whoever made a key may still have its secret.",
            "rotate",
            gone,
        ),
    ]


def findings(org: Org, now: datetime) -> list[Finding]:
    """Every finding of the org, the keys' first, each with its first SHOWN rows and count."""
    found = []
    keys = live_keys(org)
    for code, title, why, fix, rule in _key_rules(org, now):
        rows = keys.filter(rule)
        found.append(Finding(code, title, why, fix, list(rows[:SHOWN]), rows.count()))
    tokens = AdminToken.objects.filter(org=org, revoked_at__isnull=True, expires_at__isnull=True)
    found.append(
        Finding(
            "token_no_expiry",
            "Admin tokens without an expiry",
            "Every admin token the console makes expires within a year.",
            "",
            list(tokens[:SHOWN]),
            tokens.count(),
        )
    )
    people = without_two_factor(org)
    found.append(
        Finding(
            "no_two_factor",
            "Owners and admins without two-factor",
            "A password alone is one phishing email away.",
            "security",
            people,
            len(people),
        )
    )
    return found


def without_two_factor(org: Org) -> list[Membership]:
    device = TOTPDevice.objects.filter(user=OuterRef("user"), confirmed=True)
    return list(
        Membership.objects.filter(org=org, role__in=[Role.OWNER, Role.ADMIN])
        .exclude(Exists(device))
        .select_related("user")
        .order_by("user__email")
    )


def score(org: Org, now: datetime, people: list[Membership] | None = None) -> int:
    """`people`: without_two_factor(org), when the caller has it already."""
    people = without_two_factor(org) if people is None else people
    keys = live_keys(org)
    total = keys.count()
    rules = [rule for *_, rule in _key_rules(org, now)]
    flagged = keys.filter(_any(rules)).count() if total else 0
    share = 100 if not total else round(100 * (total - flagged) / total)
    return max(0, share - SCORE_PER_PERSON * len(people))


def _any(rules: list[Q]) -> Q:
    combined = Q()
    for rule in rules:
        combined |= rule
    return combined


def keep_scores(now: datetime) -> int:
    """Stores every org's score (the hourly task); returns how many orgs changed."""
    changed = 0
    for org in Org.objects.only("pk", "hygiene_score"):
        value = score(org, now)
        if value != org.hygiene_score:
            Org.objects.filter(pk=org.pk).update(hygiene_score=value)
            changed += 1
    return changed
