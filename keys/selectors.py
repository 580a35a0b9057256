"""Every read of keys a page needs, already scoped to what the membership may see."""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import Http404
from django.utils import timezone

from audit.models import AuditEvent
from billing.usage import rollups
from billing.usage.events import KeyFacts
from billing.usage.models import UsageEvent
from gateway_console import selectors as tenancy
from gateway_console.models import Membership
from gateway_console.paging import Column, Page, keyset_page
from keys import allowlist
from keys.models import Key, KeySighting, KeyStatus


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool
    label: str


SORTS = {
    "-created": Sort("created_at", True, "Newest first"),
    "created": Sort("created_at", False, "Oldest first"),
    "name": Sort("name", False, "Name A–Z"),
    "-name": Sort("name", True, "Name Z–A"),
    "-last_used": Sort("last_used_at", True, "Recently used"),
}
DEFAULT_SORT = "-created"
STATUS_FILTERS = ("active", "disabled", "expired", "deleted")
BATCH_ACTIONS = ("keys.disabled", "keys.enabled", "keys.deleted", "keys.moved", "keys.expiry_set")


def key_facts(ids: set[uuid.UUID]) -> dict[uuid.UUID, KeyFacts]:
    """What billing records of a usage event's key (registered with billing.usage.services.register_key_facts)."""

    rows = Key.objects.filter(pk__in=ids).values(
        "id",
        "org_id",
        "team_id",
        "limit_period",
        "org__timezone",
        "org__plan__price_multiplier",
        "team__limit_period",
    )
    return {
        row["id"]: KeyFacts(
            org_id=row["org_id"],
            team_id=row["team_id"],
            limit_period=row["limit_period"],
            org_timezone=row["org__timezone"],
            multiplier=row["org__plan__price_multiplier"] or Decimal(1),
            team_limit_period=row["team__limit_period"],
        )
        for row in rows
    }


def _keys_in_scope(membership: Membership) -> QuerySet[Key]:
    keys = Key.objects.filter(org=membership.org)
    if not membership.sees_whole_org:
        keys = keys.filter(team__in=tenancy.teams_visible_to(membership))
    return keys


def key_for(membership: Membership, key_id) -> Key:
    """The key if this membership may see it; a 404 otherwise, whichever org it is in."""
    try:
        key_uuid = uuid.UUID(str(key_id))
    except ValueError:
        raise Http404("No such key.") from None
    key = (
        _keys_in_scope(membership)
        .select_related("team", "created_by", "org")
        .filter(pk=key_uuid)
        .first()
    )
    if key is None:
        raise Http404("No such key.")
    return key


def keys_by_ids(membership: Membership, ids: list[str]) -> list[Key]:
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return list(
        _keys_in_scope(membership)
        .filter(pk__in=valid)
        .select_related("team")
        .order_by("name", "id")
    )


def columns(sort: str) -> list[Column]:
    """The keyset order of a sort: its field, then the id."""
    order = SORTS.get(sort) or SORTS[DEFAULT_SORT]
    field = Key._meta.get_field(order.field)
    kind = datetime if order.field != "name" else str
    return [
        Column(order.field, descending=order.descending, nullable=field.null, kind=kind),
        Column("id", descending=order.descending, kind=uuid.UUID),
    ]


_PREVIEW = re.compile(r"^(?P<prefix>[A-Za-z0-9-]{1,16})\s*(…|\.\.\.)\s*(?P<last4>[A-Za-z0-9]{4})$")


def keys_visible_to(
    membership: Membership,
    *,
    search: str = "",
    team: str = "",
    status: str = "",
    sort: str = DEFAULT_SORT,
    after: str = "",
    before: str = "",
    page_size: int = 25,
) -> Page[Key]:
    """One page of keys, by keyset pagination: the cost of a page does not grow with the
    number of keys, and there is no COUNT(*) over the table."""
    keys = _keys_in_scope(membership).select_related("team")
    now = timezone.now()
    if status == "active":
        keys = keys.filter(status=KeyStatus.ACTIVE).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )
    elif status == "expired":
        keys = keys.filter(status=KeyStatus.ACTIVE, expires_at__lte=now)
    elif status in ("disabled", "deleted"):
        keys = keys.filter(status=status)
    else:
        keys = keys.exclude(status=KeyStatus.DELETED)
    if team == "none":
        keys = keys.filter(team__isnull=True)
    elif team:
        try:
            keys = keys.filter(team_id=uuid.UUID(team))
        except ValueError:
            keys = keys.none()
    search = search.strip()
    if search:
        preview = _PREVIEW.match(search)
        if preview:
            keys = keys.filter(display_prefix__startswith=preview["prefix"], last4=preview["last4"])
        else:
            keys = keys.filter(
                Q(name__icontains=search) | Q(display_prefix__startswith=search) | Q(user_id=search)
            )

    return keyset_page(keys, columns(sort), after=after, before=before, size=page_size)


def key_audit_trail(key: Key, limit: int = 50) -> list[AuditEvent]:
    """The key's own events, and the batch events that named it."""
    key_id = str(key.pk)
    own = Q(target_type="key", target_id=key_id)
    # Batch events name their keys in `data`; the UUID's text is found the same way on
    # PostgreSQL and SQLite, among the org's batch events only (an indexed subset).
    named = Q(action__in=BATCH_ACTIONS, data_text__contains=key_id)
    return list(
        AuditEvent.objects.filter(org_id=key.org_id)
        .annotate(data_text=Cast("data", TextField()))
        .filter(own | named)
        .order_by("-seq")[:limit]
    )


UsageBucket = rollups.Bucket


def usage_of_key(
    key: Key, *, since: datetime, until: datetime, granularity: str, by_model: bool = False
) -> list[UsageBucket]:
    """The key's usage in the hours overlapping [since, until), summed per hour or per day of
    the org's time zone (and per model), oldest first, from the hourly rollups: the same
    numbers as the key's usage page."""
    return rollups.usage_buckets(
        Q(key=key),
        since=since,
        until=until,
        granularity=granularity,
        tz=key.org.timezone,
        by_model=by_model,
    )


REQUEST_ORDER = [
    Column("occurred_at", descending=True, kind=datetime),
    Column("id", descending=True, kind=int),
]


def recent_requests_of(
    key: Key, *, after: str = "", before: str = "", page_size: int = 50
) -> Page[UsageEvent]:
    """A key's requests, newest first, a keyset page at a time on (occurred_at, id): the
    index usage_key_time_idx serves every page alike, however deep."""
    events = UsageEvent.objects.filter(key=key)
    return keyset_page(events, REQUEST_ORDER, after=after, before=before, size=page_size)


def key_sightings(key: Key, *, now: datetime, days: int = 7, limit: int = 50) -> list[KeySighting]:
    """Where the key was presented from in the last `days` (keys.sightings), newest first, each
    marked `.listed` when the key's allowlist, as it is now, names its address (never, while
    the key has none)."""
    since = now - timedelta(days=days)
    found = list(
        KeySighting.objects.filter(key=key, last_seen__gte=since).order_by("-last_seen")[:limit]
    )
    for sighting in found:
        sighting.listed = bool(key.allowed_ips) and allowlist.allows(
            key.allowed_ips, sighting.address
        )
    return found
