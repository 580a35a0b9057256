import secrets as py_secrets

from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from audit import Actor
from billing.limits.selectors import capped_teams
from billing.money import display, micros_to_money
from billing.usage import rollups, traffic
from billing.usage import views as usage_views
from gateway_console import selectors as tenancy
from gateway_console import step_up
from gateway_console.paging import NEWEST_FIRST, cursors, pager_links, render_list
from gateway_console.roles import membership_required, role_required
from gateway_console.show_once import secret_page
from keys import limits, selectors, services
from keys.forms import BatchForm, KeyForm, RotateForm
from keys.models import Key
from keys.services import AlreadyShown, BatchAction, KeyActionRefused


def _show_once(request: HttpRequest, key: Key, plaintext: str, *, rotated: bool) -> HttpResponse:
    return secret_page(
        request, "keys/show_once.html", {"key": key, "plaintext": plaintext, "rotated": rotated}
    )


def _already_shown(request: HttpRequest, key: Key) -> HttpResponse:
    messages.warning(
        request,
        "That key was already shown once and cannot be shown again. "
        "If it was lost, rotate the key to get a new one.",
    )
    return redirect("keys:detail", key_id=key.pk)


def _list_params(request: HttpRequest) -> dict:
    return {
        "search": request.GET.get("q", "")[:200],
        "team": request.GET.get("team", ""),
        "status": request.GET.get("status", "")
        if request.GET.get("status", "") in selectors.STATUS_FILTERS
        else "",
        "sort": request.GET.get("sort", selectors.DEFAULT_SORT)
        if request.GET.get("sort") in selectors.SORTS
        else selectors.DEFAULT_SORT,
    }


@membership_required
def key_list(request: HttpRequest) -> HttpResponse:
    params = _list_params(request)
    page = selectors.keys_visible_to(
        request.membership,
        **params,
        **cursors(request.GET),
    )
    context = {
        "page": page,
        "params": params,
        "teams": tenancy.teams_visible_to(request.membership),
        "sorts": selectors.SORTS,
        "statuses": selectors.STATUS_FILTERS,
        "pager": pager_links(
            page,
            query={
                "q": params["search"],
                "team": params["team"],
                "status": params["status"],
                "sort": params["sort"] if params["sort"] != selectors.DEFAULT_SORT else "",
            },
            target="keys-table",
        ),
        "batch_actions": BatchAction.CHOICES,
    }
    return render_list(
        request,
        template="keys/list.html",
        part="keys/_table.html",
        target="keys-table",
        context=context,
    )


@role_required("admin")
@step_up.required
@require_http_methods(["GET", "POST"])
def key_new(request: HttpRequest) -> HttpResponse:
    org = request.membership.org
    resumed = step_up.resumed(request)
    if request.method == "POST" or resumed is not None:
        form = KeyForm(request.POST if request.method == "POST" else resumed, org=org)
        if request.method == "POST" and form.is_valid():
            try:
                key, plaintext = services.create_key(
                    org=org,
                    actor=Actor.from_request(request),
                    settings_=form.key_settings(),
                    nonce=request.POST.get("nonce", "")[:64] or None,
                )
            except AlreadyShown as shown:
                return _already_shown(request, shown.key)
            return _show_once(request, key, plaintext, rotated=False)
    else:
        form = KeyForm(org=org, initial={"team": request.GET.get("team") or None})
    return render(request, "keys/new.html", {"form": form, "nonce": py_secrets.token_urlsafe(24)})


@membership_required
def key_detail(request: HttpRequest, key_id) -> HttpResponse:
    key = selectors.key_for(request.membership, key_id)
    now = timezone.now()
    sightings = selectors.key_sightings(key, now=now)
    return render(
        request,
        "keys/detail.html",
        {
            "key": key,
            "trail": selectors.key_audit_trail(key),
            "limits": limits.key_limits_now(key),
            "usage": usage_views.usage_summary(Q(key=key), key.org.timezone),
            "now": now,
            "sightings": sightings,
            # During a grace period: who still presents the old secret (keys.sightings).
            "old_secret_users": [s for s in sightings if s.old_secret] if key.in_grace else [],
            "sightings_to_allow": len({s.address for s in sightings if s.address and not s.listed}),
        },
    )


@membership_required
def key_usage(request: HttpRequest, key_id) -> HttpResponse:
    key = selectors.key_for(request.membership, key_id)
    return usage_views.usage_page(
        request,
        scope=Q(key=key),
        tz=key.org.timezone,
        title=f"Usage of {key.name}",
        filename=f"usage-key-{key.pk}",
        top_keys=False,
        scope_name="key",
        key=key,
    )


@membership_required
def key_requests(request: HttpRequest, key_id) -> HttpResponse:
    """The key's recent requests, newest first, a keyset page at a time."""
    key = selectors.key_for(request.membership, key_id)
    page = selectors.recent_requests_of(key, **cursors(request.GET, NEWEST_FIRST))
    rows = [(event, display(micros_to_money(event.cost_micros))) for event in page.rows]
    return render(
        request,
        "usage/key_requests.html",
        {
            "key": key,
            "rows": rows,
            "page": page,
            "pager": pager_links(page, style=NEWEST_FIRST),
        },
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
def key_edit(request: HttpRequest, key_id) -> HttpResponse:
    key = selectors.key_for(request.membership, key_id)
    if key.is_deleted:
        messages.error(request, "A deleted key cannot be changed.")
        return redirect("keys:detail", key_id=key.pk)
    form = KeyForm(request.POST or None, org=request.membership.org, key=key)
    if request.method == "POST" and form.is_valid():
        services.update_key(
            key=key, actor=Actor.from_request(request), settings_=form.key_settings()
        )
        messages.success(request, f"Saved the settings of {key.name}.")
        return redirect("keys:detail", key_id=key.pk)
    return render(request, "keys/edit.html", {"key": key, "form": form})


@role_required("admin")
@step_up.required
@require_http_methods(["GET", "POST"])
def key_rotate(request: HttpRequest, key_id) -> HttpResponse:
    key = selectors.key_for(request.membership, key_id)
    # A scheduled rotation's link names its overlap (keys.alerts.rotation_due_alerts).
    data = request.POST if request.method == "POST" else step_up.resumed(request)
    form = RotateForm(data, initial={"grace_hours": _int(request.GET.get("grace_hours"))})
    if request.method == "POST" and form.is_valid():
        try:
            key, plaintext = services.rotate_key(
                key=key,
                actor=Actor.from_request(request),
                grace_hours=form.cleaned_data["grace_hours"],
                nonce=request.POST.get("nonce", "")[:64] or None,
            )
        except AlreadyShown as shown:
            return _already_shown(request, shown.key)
        except KeyActionRefused as refused:
            messages.error(request, str(refused))
            return redirect("keys:detail", key_id=key.pk)
        return _show_once(request, key, plaintext, rotated=True)
    return render(
        request,
        "keys/confirm_rotate.html",
        {"key": key, "form": form, "nonce": py_secrets.token_urlsafe(24)},
    )


def _int(value: str | None) -> int:
    return int(value) if value and value.isascii() and value.isdigit() else 0


STATUS_ACTIONS = {
    "disable": (services.disable_key, "Disable", "disabled"),
    "enable": (services.enable_key, "Enable", "enabled"),
    "delete": (services.delete_key, "Delete", "deleted"),
}


@role_required("admin")
@step_up.required(when=lambda request, key_id, action: action == "delete")
@require_http_methods(["GET", "POST"])
def key_status_action(request: HttpRequest, key_id, action: str) -> HttpResponse:
    """GET: a confirmation that says what will happen. POST: do it."""
    key = selectors.key_for(request.membership, key_id)
    service, verb, done = STATUS_ACTIONS[action]
    if request.method == "POST":
        try:
            key = service(key=key, actor=Actor.from_request(request))
        except KeyActionRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, f"{key.name} is {done}.")
        if request.htmx and request.POST.get("from") == "row":
            key = selectors.key_for(request.membership, key.pk)
            response = render(
                request, "keys/_row.html", {"key": key, "can_change": True, "oob_messages": True}
            )
            return response
        if action == "delete":
            return redirect("keys:list")
        return redirect("keys:detail", key_id=key.pk)
    template = "keys/_confirm_dialog.html" if request.htmx else "keys/confirm_status.html"
    return render(
        request,
        template,
        {"key": key, "action": action, "verb": verb, "from_row": request.GET.get("from") == "row"},
    )


def _batch_deletes(request: HttpRequest) -> bool:
    return request.method != "POST" or request.POST.get("action") == BatchAction.DELETE


@role_required("admin")
@step_up.required(when=_batch_deletes)
@require_http_methods(["GET", "POST"])
def key_batch(request: HttpRequest) -> HttpResponse:
    """The first POST (from the table) shows a confirmation listing the keys; the second,
    with `confirmed`, does it, for all of them or none. A batch delete needs a fresh step-up;
    after it, a GET shows the same confirmation again, filled in from the POST it interrupted."""
    membership = request.membership
    data = request.POST if request.method == "POST" else step_up.resumed(request)
    if data is None:
        return redirect("keys:list")
    selected = selectors.keys_by_ids(membership, data.getlist("keys"))
    form = BatchForm(data, visible_key_ids=[str(k.pk) for k in selected], org=membership.org)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(reverse("keys:list") + data.get("return_query", ""))
    action, team = form.cleaned_data["action"], form.cleaned_data["team"]
    if request.method != "POST" or request.POST.get("confirmed") != "yes":
        return render(
            request,
            "keys/confirm_batch.html",
            {
                "keys": selected,
                "action": action,
                "team": team,
                "teams": tenancy.teams_visible_to(membership),
            },
        )
    try:
        changed = services.change_keys(
            org=membership.org,
            actor=Actor.from_request(request),
            key_ids=[k.pk for k in selected],
            action=action,
            team=team,
        )
    except KeyActionRefused as refused:
        messages.error(request, str(refused))
    else:
        verb = {
            "disable": "Disabled",
            "enable": "Enabled",
            "delete": "Deleted",
            "move": "Moved",
            "expire": "Gave an expiry to",
        }[action]
        target = f" to {team.name if team else 'no team'}" if action == BatchAction.MOVE else ""
        messages.success(
            request, f"{verb} {len(changed)} key{'s' if len(changed) != 1 else ''}{target}."
        )
    return redirect("keys:list")


@role_required("reader")
def gateway(request: HttpRequest) -> HttpResponse:
    """How to connect a gateway to this console, and whether the org's gateway is healthy."""
    org = request.membership.org
    health = traffic.gateway_health(org.pk, now=timezone.now())
    series = health.traffic.series()
    chart = {
        "x": [int(minute.timestamp()) for minute in health.traffic.minutes],
        "tz": org.timezone,
        "granularity": "minute",
        "names": list(series),
        "series": list(series.values()),
    }
    return render(
        request,
        "keys/gateway.html",
        {
            "health": health,
            "chart": chart,
            "hold_ttl_minutes": settings.HOLD_TTL // 60,
            "console_url": f"{request.scheme}://{request.get_host()}",
        },
    )


# The caps overview (/billing/caps/, in billing's pages): every capped key and team against its caps.


@role_required("reader")
def caps(request: HttpRequest) -> HttpResponse:
    org = request.membership.org
    sort = request.GET.get("sort", "-used")
    sort = sort if sort in limits.CAP_SORTS else "-used"
    page = limits.capped_keys_page(org, sort=sort, **cursors(request.GET))
    now = timezone.now()
    week = rollups.week_spend(org.pk, by="key", ids=[key.pk for key in page.rows], now=now)
    rows = [(key, limits.key_cap_rows(key, week.get(key.pk, 0))) for key in page.rows]
    team_week = rollups.week_spend(org.pk, by="team", now=now)
    context = {
        "pager": pager_links(
            page, query={"sort": sort if sort != "-used" else ""}, target="caps-table"
        ),
        "rows": rows,
        "sort": sort,
        "sorts": limits.CAP_SORTS,
        "teams": capped_teams(org, team_week),
        "wallet": limits.wallet_forecast(org, now),
    }
    return render_list(
        request,
        template="billing/caps.html",
        part="billing/_caps_table.html",
        target="caps-table",
        context=context,
    )
