import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from audit.actions import ACTIONS
from audit.models import AuditEvent
from gateway_console.models import Membership


@dataclass(frozen=True)
class EventPage:
    events: list[AuditEvent]
    next_before: int | None
    newer_after: int | None


def events_visible_to(
    membership: Membership,
    *,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: int | None = None,
    after_seq: int | None = None,
    page_size: int = 50,
) -> EventPage:
    """The org's events, newest first, one keyset page at a time (by chain position)."""
    events: QuerySet[AuditEvent] = AuditEvent.objects.filter(org=membership.org)
    if actor:
        events = (
            events.filter(actor_label__iexact=actor)
            if "@" in actor
            else events.filter(actor_label__icontains=actor)
        )
    if action:
        events = (
            events.filter(action=action)
            if action in ACTIONS
            else events.filter(action__startswith=action)
        )
    if target:
        try:
            events = events.filter(target_id=str(uuid.UUID(target)))
        except ValueError:
            events = events.filter(target_label__icontains=target)
    if since:
        events = events.filter(occurred_at__gte=since)
    if until:
        events = events.filter(occurred_at__lt=until)
    if after_seq is not None:
        rows = list(events.filter(seq__gt=after_seq).order_by("seq")[: page_size + 1])
        more = len(rows) > page_size
        rows = rows[:page_size][::-1]
        return EventPage(
            rows, rows[-1].seq if rows else None, rows[0].seq if rows and more else None
        )
    if before_seq is not None:
        events = events.filter(seq__lt=before_seq)
    rows = list(events.order_by("-seq")[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    return EventPage(
        rows,
        rows[-1].seq if rows and more else None,
        rows[0].seq if rows and before_seq is not None else None,
    )
