"""Every read of the audit log, already scoped to one org. The page, the export and the admin
API share `filtered_events`, so the same filters give the same events everywhere.

How each filter finds its events without reading the whole log (a million events per org):

- actor: with an `@`, the email exactly; otherwise the start of the actor's label
  (`admin token terraform`, `alice`). Case-insensitive. Never "anywhere in the label": that
  is a leading-wildcard scan of every row. Index: (org, UPPER(actor_label), seq), PostgreSQL.
- action: a known code exactly, or the start of codes (`key.`, `keys.`), expanded to the known
  codes it begins so it stays an index lookup. Index: (org, action, seq).
- target: a UUID is the target's id, looked up per target type. Index: (org, target_type,
  target_id, seq). Anything else is the start of the target's label, case-insensitive.
  Index: (org, UPPER(target_label), seq), PostgreSQL.
- time: from `since` (inclusive) to `until` (exclusive). Index: (org, occurred_at).
- pages: keyset by chain position (`seq`), never OFFSET.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import QuerySet, Subquery
from django.urls import reverse

from audit.actions import ACTIONS, TARGET_TYPES
from audit.models import AuditEvent
from gateway_console.models import AdminToken, Membership, Team
from gateway_console.paging import Column, Page, keyset_page

# Newest first, by the position in the chain.
EVENT_ORDER = [Column("seq", descending=True, kind=int)]


def day_range(
    timezone: str, first: date | None, last: date | None
) -> tuple[datetime | None, datetime | None]:
    """The instants that bound the days `first` to `last` (both included) in the org's time
    zone: from `first`'s local midnight to the local midnight after `last`, as aware datetimes.
    On a day when clocks change, local midnight is still the boundary (zoneinfo resolves it).
    A bound past the edge of the calendar is None: no bound."""
    zone = ZoneInfo(timezone)

    def midnight(day: date, days_later: int = 0) -> datetime | None:
        # In UTC, so that differences are real durations (a 23-hour day stays 23 hours).
        try:
            local = datetime.combine(day + timedelta(days=days_later), time(0), tzinfo=zone)
            return local.astimezone(UTC)
        except OverflowError:
            # A day at the edge of the calendar (9999-12-31, or 0001-01-01 east of Greenwich)
            # has no such midnight: the range is open on that side, as it holds every event.
            return None

    return (
        midnight(first) if first else None,
        midnight(last, days_later=1) if last else None,
    )


def filtered_events(
    membership: Membership,
    *,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """The org's events that match every filter given (unordered)."""
    events: QuerySet[AuditEvent] = AuditEvent.objects.filter(org=membership.org)
    if actor:
        events = (
            events.filter(actor_label__iexact=actor)
            if "@" in actor
            else events.filter(actor_label__istartswith=actor)
        )
    if action:
        if action in ACTIONS:
            events = events.filter(action=action)
        else:
            codes = [code for code in ACTIONS if code.startswith(action)]
            events = events.filter(action__in=codes) if codes else events.filter(action=action)
    if target:
        try:
            target_id = str(uuid.UUID(target))
        except ValueError:
            events = events.filter(target_label__istartswith=target)
        else:
            events = events.filter(target_type__in=TARGET_TYPES, target_id=target_id)
    # A time range also becomes a range of chain positions, found through the (org, occurred_at)
    # index: occurred_at is taken under the chain's lock, so it never decreases along the chain,
    # and the planner can then walk the seq index between two bounds instead of scanning back
    # from the newest event.
    in_org = AuditEvent.objects.filter(org=membership.org)
    if since:
        first = (
            in_org.filter(occurred_at__gte=since).order_by("occurred_at", "seq").values("seq")[:1]
        )
        events = events.filter(occurred_at__gte=since, seq__gte=Subquery(first))
    if until:
        last = (
            in_org.filter(occurred_at__lt=until).order_by("-occurred_at", "-seq").values("seq")[:1]
        )
        events = events.filter(occurred_at__lt=until, seq__lte=Subquery(last))
    return events


def events_visible_to(
    membership: Membership,
    *,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    after: str = "",
    before: str = "",
    page_size: int = 50,
) -> Page[AuditEvent]:
    """The org's events, newest first, one keyset page at a time (by chain position)."""
    events = filtered_events(
        membership, actor=actor, action=action, target=target, since=since, until=until
    )
    return keyset_page(events, EVENT_ORDER, after=after, before=before, size=page_size)


def events_for_export(
    membership: Membership, *, chunk_size: int = 2000, **filters
) -> Iterator[AuditEvent]:
    """The filtered events oldest first, in keyset chunks of `chunk_size`: memory stays the
    same at a million events, and no query reads past its chunk (no OFFSET, no long cursor)."""
    events = filtered_events(membership, **filters).order_by("seq")
    after = 0
    while True:
        count = 0
        chunk = events.filter(seq__gt=after)[:chunk_size]
        for event in chunk.iterator(chunk_size=chunk_size):
            count += 1
            after = event.seq
            yield event
        if count < chunk_size:
            return


# Where each kind of target is shown; an org (and a member) has no page of its own to link.
# The apps above the audit log add their own kinds (register_target_page, in their ready()).
TARGET_PAGES: dict[str, tuple] = {
    "team": (Team, lambda pk: reverse("team-detail", args=[pk])),
    "admintoken": (AdminToken, lambda pk: reverse("admin-tokens")),
}


def register_target_page(target_type: str, model, url_of) -> None:
    """`target_type` (a model name, as audit.record writes it) links to `url_of(pk)` while an
    object of `model` with that pk exists in the org."""
    TARGET_PAGES[target_type] = (model, url_of)


def link_targets(membership: Membership, events: list[AuditEvent]) -> None:
    """Sets `target_url` on each event whose target still exists in this org: one query per
    kind of target on the page (at most three), however long the log."""
    wanted: dict[str, set[str]] = {}
    for event in events:
        event.target_url = None
        if event.target_type in TARGET_PAGES and event.target_id:
            wanted.setdefault(event.target_type, set()).add(event.target_id)
    existing: dict[tuple[str, str], str] = {}
    for target_type, ids in wanted.items():
        model, url_of = TARGET_PAGES[target_type]
        valid = []
        for value in ids:
            try:
                valid.append(uuid.UUID(value))
            except ValueError:
                continue
        found = model.objects.filter(org=membership.org, pk__in=valid).values_list("pk", flat=True)
        for pk in found:
            existing[(target_type, str(pk))] = url_of(pk)
    for event in events:
        event.target_url = existing.get((event.target_type, event.target_id))
