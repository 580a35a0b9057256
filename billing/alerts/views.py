"""The alerts page (what was raised) and the alert settings page (what to be told about)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from audit import Actor
from billing import alerts
from billing.alerts.forms import AlertSettingsForm
from billing.alerts.webhook_guard import redacted
from gateway_console import step_up
from gateway_console.paging import NEWEST_FIRST, cursors, pager_links
from gateway_console.roles import role_required


@role_required("reader")
def alert_list(request: HttpRequest) -> HttpResponse:
    org = request.membership.org
    page = alerts.alerts_of(request.membership, **cursors(request.GET, NEWEST_FIRST))
    if page.rows:
        alerts.mark_alerts_seen(request.session, org.pk, page.rows[0].alert.pk)
    settings = alerts.alert_settings_of(org)
    return render(
        request,
        "billing/alerts.html",
        {
            "page": page,
            "pager": pager_links(page, style=NEWEST_FIRST),
            "settings": settings,
            # Readers (auditors) see where alerts go, not the URL's path and query.
            "webhook_host": redacted(settings.webhook_url),
            "watching": alerts.watching(settings),
        },
    )


@role_required("reader")
@require_http_methods(["GET", "POST"])
def alert_settings(request: HttpRequest) -> HttpResponse:
    """Owners and admins change the settings; auditors read them (without the secret)."""
    membership = request.membership
    if request.method == "POST" and not membership.can_change:
        raise PermissionDenied("Only owners and admins change the alert settings.")
    current = alerts.alert_settings_of(membership.org)
    initial = {field: getattr(current, field) for field in alerts.SETTINGS_FIELDS}
    data = request.POST if request.method == "POST" else step_up.resumed(request)
    form = AlertSettingsForm(data, initial=initial, read_only=not membership.can_change)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["webhook_url"] != current.webhook_url and not step_up.is_fresh(
            request
        ):
            # Where alerts are sent is sensitive: a fresh step-up, then this page again.
            return step_up.demand(request)
        alerts.update_alert_settings(
            org=membership.org, actor=Actor.from_request(request), **form.cleaned_data
        )
        messages.success(request, "Saved the alert settings.")
        return redirect("alert-settings")
    response = render(
        request,
        "billing/alerts_settings.html",
        {"form": form, "settings": current, "recipients": _recipients(membership)},
    )
    if membership.can_change:
        # The page shows the webhook secret.
        add_never_cache_headers(response)
    return response


def _recipients(membership) -> list[str]:
    return alerts.recipients_by_org({membership.org_id}).get(membership.org_id, [])


@role_required("admin")
@step_up.required
@require_http_methods(["GET", "POST"])
def webhook_secret_regenerate(request: HttpRequest) -> HttpResponse:
    """GET: what regenerating does. POST: do it."""
    org = request.membership.org
    if request.method == "POST":
        try:
            alerts.regenerate_webhook_secret(org=org, actor=Actor.from_request(request))
        except alerts.AlertSettingsRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(
                request, "Generated a new webhook secret: give it to your receiver now."
            )
        return redirect("alert-settings")
    return render(
        request,
        "billing/alerts_webhook_secret.html",
        {"settings": alerts.alert_settings_of(org)},
    )
