"""Reads of the request log, scoped to what a person may see."""

from django.conf import settings
from django.http import Http404

from billing.usage.models import UsageEvent
from gateway_console import selectors as tenancy
from gateway_console.models import Membership


def usage_event_for(membership: Membership, request_id: str) -> UsageEvent:
    """One request of the request log, by the gateway's request id, also when its key is
    deleted (docs/contract.md section 1); a 404 for another org's request, or (a member) for a
    key outside their teams. Usage events are kept USAGE_RETENTION_DAYS (billing.retention):
    the answer for an older one says so."""
    events = UsageEvent.objects.filter(org=membership.org, request_id=request_id)
    if not membership.sees_whole_org:
        events = events.filter(key__team__in=tenancy.teams_visible_to(membership))
    event = events.select_related("key", "team").first()
    if event is None:
        raise Http404(
            f"No such request; usage events are kept {settings.USAGE_RETENTION_DAYS} days."
        )
    return event
