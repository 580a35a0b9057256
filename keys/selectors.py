"""Every read of keys a page needs, already scoped to what the membership may see."""

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.models import AuditEvent
from billing.usage import rollups
from billing.usage.models import UsageEvent
from billing.usage.services import KeyFacts
from gateway_console import selectors as tenancy
from gateway_console.models import Membership
from keys.models import Key, KeyStatus


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
BATCH_ACTIONS = ("keys.disabled", "keys.enabled", "keys.deleted", "keys.moved")


def key_facts(ids: set[uuid.UUID]) -> dict[uuid.UUID, KeyFacts]:
    """What billing records of a usage event's key (registered with billing.usage.services)."""

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


@dataclass(frozen=True)
class KeyPage:
    keys: list[Key]
    next_cursor: str | None
    prev_cursor: str | None


def _encode_cursor(key: Key, sort: Sort) -> str:
    value = getattr(key, sort.field)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([value, str(key.pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: Sort):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        pk = uuid.UUID(pk)
        if value is not None and sort.field != "name":
            value = parse_datetime(value)
            if value is None:
                return None
        return value, pk
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        return None


def _nullable(sort: Sort) -> bool:
    return Key._meta.get_field(sort.field).null


def _after(sort: Sort, value, pk, *, descending: bool, nulls_last: bool) -> Q:
    """Rows after (value, pk) in the order `field <dir> NULLS <...>, id <dir>`."""
    cmp = "lt" if descending else "gt"
    field = sort.field
    if not _nullable(sort):
        # No NULL branch: the condition stays one the (org, field, id) index can serve.
        return Q(**{f"{field}__{cmp}": value}) | Q(**{field: value, f"id__{cmp}": pk})
    if value is None:
        if nulls_last:
            return Q(**{f"{field}__isnull": True, f"id__{cmp}": pk})
        return Q(**{f"{field}__isnull": False}) | Q(**{f"{field}__isnull": True, f"id__{cmp}": pk})
    after = Q(**{f"{field}__{cmp}": value}) | Q(**{field: value, f"id__{cmp}": pk})
    if nulls_last:
        after |= Q(**{f"{field}__isnull": True})
    return after


def _ordering(sort: Sort, *, descending: bool, nulls_last: bool) -> list:
    field = F(sort.field)
    # NULLS placement only for a column that can be NULL: on a NOT NULL column it would stop
    # PostgreSQL from reading the matching index in order (it would sort every row instead).
    nulls = (
        ({"nulls_last": True} if nulls_last else {"nulls_first": True}) if _nullable(sort) else {}
    )
    first = field.desc(**nulls) if descending else field.asc(**nulls)
    return [first, F("id").desc() if descending else F("id").asc()]


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
) -> KeyPage:
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

    order = SORTS.get(sort) or SORTS[DEFAULT_SORT]
    nulls_last = True
    backwards = False
    cursor = None
    if before:
        cursor = _decode_cursor(before, order)
        backwards = cursor is not None
    elif after:
        cursor = _decode_cursor(after, order)

    if backwards:
        keys = keys.filter(
            _after(order, *cursor, descending=not order.descending, nulls_last=not nulls_last)
        )
        keys = keys.order_by(
            *_ordering(order, descending=not order.descending, nulls_last=not nulls_last)
        )
    else:
        if cursor is not None:
            keys = keys.filter(
                _after(order, *cursor, descending=order.descending, nulls_last=nulls_last)
            )
        keys = keys.order_by(*_ordering(order, descending=order.descending, nulls_last=nulls_last))

    rows = list(keys[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
        has_prev, has_next = more, True
    else:
        has_prev, has_next = cursor is not None, more
    return KeyPage(
        keys=rows,
        next_cursor=_encode_cursor(rows[-1], order) if rows and has_next else None,
        prev_cursor=_encode_cursor(rows[0], order) if rows and has_prev else None,
    )


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


@dataclass(frozen=True)
class RequestPage:
    events: list[UsageEvent]
    next_cursor: str | None


def recent_requests_of(key: Key, *, before: str = "", page_size: int = 50) -> RequestPage:
    """A key's requests, newest first, a keyset page at a time on (occurred_at, id): the
    index usage_key_time_idx serves every page alike, however deep."""
    events = UsageEvent.objects.filter(key=key)
    if before:
        try:
            at_text, id_text = before.rsplit("_", 1)
            at, event_id = parse_datetime(at_text), int(id_text)
        except ValueError:
            at = None
        if at is not None:
            events = events.filter(Q(occurred_at__lt=at) | Q(occurred_at=at, id__lt=event_id))
    rows = list(events.order_by("-occurred_at", "-id")[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    cursor = f"{rows[-1].occurred_at.isoformat()}_{rows[-1].id}" if more else None
    return RequestPage(rows, cursor)
