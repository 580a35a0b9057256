"""The auditor's pages: the log with its filters, the export, and the chain check. All of them
read only; owners, admins and auditors may use them, members may not."""

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit import export, prune, selectors
from audit.actions import ACTIONS
from audit.chain import check_chain
from audit.forms import EventFilterForm, RetentionForm
from gateway_console import step_up
from gateway_console.actors import Actor
from gateway_console.paging import NEWEST_FIRST, cursors, pager_links, render_list
from gateway_console.roles import role_required

FILTER_NAMES = ("actor", "action", "target", "from", "to")


def _filters(request: HttpRequest) -> tuple[EventFilterForm, dict, dict]:
    """The form (with its errors), the selector's filters, and the query values that a link
    must carry to show the same events. A field that does not validate filters nothing."""
    form = EventFilterForm(request.GET)
    form.is_valid()
    data = form.cleaned_data
    since, until = selectors.day_range(
        request.membership.org.timezone, data.get("from"), data.get("to")
    )
    filters = {
        "actor": data.get("actor", ""),
        "action": data.get("action", ""),
        "target": data.get("target", ""),
        "since": since,
        "until": until,
    }
    query = {name: request.GET.get(name, "").strip()[:200] for name in FILTER_NAMES}
    query = {name: value for name, value in query.items() if value and name not in form.errors}
    return form, filters, query


def _query(values: dict) -> str:
    query = QueryDict(mutable=True)
    for name, value in values.items():
        if value:
            query[name] = value
    return query.urlencode()


def _page_context(request: HttpRequest) -> dict:
    form, filters, query = _filters(request)
    page = selectors.events_visible_to(
        request.membership,
        **filters,
        **cursors(request.GET, NEWEST_FIRST),
    )
    selectors.link_targets(request.membership, page.rows)

    filtered = _query(query)
    return {
        "page": page,
        "form": form,
        "filters": {name: request.GET.get(name, "").strip()[:200] for name in FILTER_NAMES},
        "actions": sorted(ACTIONS.items()),
        "pager": pager_links(page, query=query, style=NEWEST_FIRST, target="audit-table"),
        "export_query": f"?{filtered}" if filtered else "",
        "org_timezone": request.membership.org.timezone,
        "recipe": export.recipe(),
    }


@role_required("reader")
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    context = _page_context(request)
    return render_list(
        request,
        template="audit/list.html",
        part="audit/_events_table.html",
        target="audit-table",
        context=context,
    )


@role_required("reader")
@require_GET
def event_export(request: HttpRequest, fmt: str) -> StreamingHttpResponse:
    """The filtered events as a file, streamed a keyset chunk at a time (see audit.export)."""
    if fmt not in export.FORMATS:
        raise Http404("No such export format.")
    _form, filters, _query_values = _filters(request)
    org = request.membership.org
    events = selectors.events_for_export(request.membership, **filters)
    response = StreamingHttpResponse(export.lines(fmt, events), content_type=export.FORMATS[fmt])
    day = timezone.now().astimezone(ZoneInfo(org.timezone)).date().isoformat()
    response["Content-Disposition"] = f'attachment; filename="audit-{org.slug}-{day}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@role_required("reader")
@require_POST
def chain_check(request: HttpRequest) -> HttpResponse:
    """Walks the org's whole chain. It changes nothing; it is a POST (with CSRF) because it
    can take a while at a million events, and should not be set off by a link or a crawler."""
    result = check_chain(request.membership.org)
    if request.htmx:
        return render(request, "audit/_chain_check.html", {"chain_check": result})
    context = _page_context(request)
    context["chain_check"] = result
    return render(request, "audit/list.html", context)


@role_required("owner")
@step_up.required(when=lambda request: request.method == "POST")
@require_http_methods(["GET", "POST"])
def retention(request: HttpRequest) -> HttpResponse:
    """How long the org keeps its audit log: for good (the default), or an owner's opt-in to
    exporting, then pruning, what is older (audit.prune)."""
    org = request.membership.org
    days = org.audit_retention_days
    data = request.POST if request.method == "POST" else step_up.resumed(request)
    form = RetentionForm(data, initial={"prune": days is not None, "days": days or 730})
    if request.method == "POST" and form.is_valid():
        chosen = form.chosen_days()
        if prune.set_retention(org=org, days=chosen, actor=Actor.from_request(request)):
            messages.success(
                request,
                "The audit log is now kept for good."
                if chosen is None
                else f"Audit events older than {chosen} days will be exported, then pruned.",
            )
        return redirect("audit:list")
    context = {"form": form, "org": org, "start": prune.chain_start(org)}
    return render(request, "audit/retention.html", context)
