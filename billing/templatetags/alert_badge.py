from datetime import UTC, datetime

from django import template

from billing import alerts

register = template.Library()


@register.simple_tag(takes_context=True)
def new_alerts(context) -> str:
    """How many alerts of the last week this session has not seen ("" for none, "99+" for
    many), for owners, admins and auditors. One query; none for members."""
    membership = context.get("membership")
    request = context.get("request")
    if membership is None or request is None or not membership.sees_whole_org:
        return ""
    count = alerts.unseen_alert_count(
        membership.org_id,
        seen_id=alerts.seen_alert_id(request.session, membership.org_id),
        now=datetime.now(UTC),
    )
    if count > alerts.BADGE_MAX:
        return f"{alerts.BADGE_MAX}+"
    return str(count) if count else ""
