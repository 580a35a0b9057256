"""Canary keys: a key planted where a thief would look (a repository, a wiki page, an old
laptop's environment) that never works. authorize answers it exactly like an unknown key, so
whoever holds it learns nothing; its first use raises a `key_canary` alert to the org's owners
and admins (email, and the org's webhook) and writes `key.canary_tripped` to the audit log, with
the address, user agent and time (docs/contract.md section 2).

First use is decided in the database (a conditional UPDATE of last_used_at), so it is one
alert however many web processes see the key at once; the alert and the event are written by a
task, off the request's path, so a canary costs the caller no more time than an unknown key."""

from datetime import datetime

from django.db import connection, transaction

import audit
from audit import Actor
from billing.alerts import AlertKind, Candidate, raise_now
from billing.dbvalues import db_id, db_time
from keys.models import Key


def first_use(key_id, now: datetime) -> bool:
    """Marks a canary key used; True only for the first use."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE keys_key SET last_used_at = %s WHERE id = %s AND last_used_at IS NULL",
            [db_time(now), db_id(key_id)],
        )
        return cursor.rowcount == 1


@transaction.atomic
def report(*, key_id, address: str, user_agent: str, at: datetime) -> int | None:
    """The alert and the audit event of a tripped canary; returns the alert's id."""
    key = Key.objects.select_related("org").get(pk=key_id)
    seen = {"address": address or "unknown", "user_agent": user_agent, "at": at.isoformat()}
    audit.record(
        org=key.org,
        actor=Actor.system("canary key"),
        action="key.canary_tripped",
        target=key,
        data=seen,
    )
    return raise_now(
        Candidate(
            org_id=key.org_id,
            kind=AlertKind.KEY_CANARY,
            subject=str(key.pk),
            threshold="used",
            period_start=at,
            message=(
                f"Canary key “{key.name}” ({key.preview}) was used at "
                f"{at:%Y-%m-%d %H:%M:%S} UTC from {seen['address']}"
                f" ({user_agent or 'no user agent'}). It never works: whoever sent it found it "
                "where it was planted. The request was refused like an unknown key."
            ),
        ),
        now=at,
    )
