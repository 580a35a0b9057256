"""Leaked keys (docs/leaked-keys.md): a key found where it should not be, reported by a secret
scanner (GitHub's secret-scanning partner program: keys.leak_api) or pasted into the console's
"Report a leaked key" form, is disabled at once, marked leaked on its key page, written to its
org's audit log as `key.leaked` naming where it was found, and alerted to the org's owners and
admins (`key_leaked`, whatever the alert settings).

Only the signed reporter learns which tokens were real keys (its labels); the form and any
unsigned caller learn nothing."""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from audit import Actor
from billing.alerts import AlertKind, Candidate, raise_now
from gateway_console import secret
from keys.models import Key, KeyStatus
from keys.services import change_status

TRUE_POSITIVE, FALSE_POSITIVE = "true_positive", "false_positive"


@dataclass(frozen=True)
class Leak:
    token: str
    url: str = ""
    source: str = ""


def token_hash(token: str) -> str:
    """SHA-256 of the token, hex: how a reporter names its token in our answer."""
    return hashlib.sha256(token.encode()).hexdigest()


def report(leaks: list[Leak], *, via: str) -> list[str]:
    """Acts on every leak; returns each token's label (true_positive: a key the console issued,
    whatever its state)."""
    now = timezone.now()
    return [_report_one(leak, via=via, now=now) for leak in leaks]


def _report_one(leak: Leak, *, via: str, now: datetime) -> str:
    if not secret.is_well_formed(leak.token):
        return FALSE_POSITIVE
    hashed = secret.secret_hash(leak.token)
    key_id = (
        Key.objects.filter(Q(secret_hash=hashed) | Q(grace_secret_hash=hashed))
        .values_list("pk", flat=True)
        .first()
    )
    if key_id is None:
        return FALSE_POSITIVE
    _disable_leaked(key_id, leak, via=via, now=now)
    return TRUE_POSITIVE


@transaction.atomic
def _disable_leaked(key_id, leak: Leak, *, via: str, now: datetime) -> None:
    key = Key.objects.select_for_update().select_related("org").get(pk=key_id)
    if key.is_deleted:
        return  # it answers like an unknown key already
    first = key.leaked_at is None
    before = {"status": key.status}
    # The one set of rules for a key's status (keys.services.change_status).
    change_status(key, KeyStatus.DISABLED, now)
    key.leaked_at = key.leaked_at or now
    key.leaked_url = leak.url[:500]
    key.save()
    audit.record(
        org=key.org,
        actor=Actor.system("leaked-key report"),
        action="key.leaked",
        target=key,
        changes=audit.diff(before, {"status": key.status}),
        data={"url": leak.url[:500], "source": leak.source[:100], "reported_via": via},
    )
    if first:
        where = f" at {leak.url[:300]}" if leak.url else ""
        raise_now(
            Candidate(
                org_id=key.org_id,
                kind=AlertKind.KEY_LEAKED,
                subject=str(key.pk),
                threshold="leaked",
                period_start=now,
                message=(
                    f"Key “{key.name}” ({key.preview}) was found{where} and reported"
                    f" ({'a secret scanner' if via == 'partner' else 'the console form'}). It"
                    " is disabled: rotate it, then enable it, once its holder has the new secret."
                ),
            ),
            now=now,
        )
