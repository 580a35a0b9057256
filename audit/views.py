from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from audit import selectors
from audit.actions import ACTIONS
from gateway_console.roles import role_required


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


@role_required("reader")
def event_list(request: HttpRequest) -> HttpResponse:
    filters = {
        name: request.GET.get(name, "").strip()[:200] for name in ("actor", "action", "target")
    }
    page = selectors.events_visible_to(
        request.membership,
        **filters,
        before_seq=_int(request.GET.get("before", "")),
        after_seq=_int(request.GET.get("after", "")),
    )

    def link(**cursor) -> str:
        query = QueryDict(mutable=True)
        for name, value in {**filters, **cursor}.items():
            if value:
                query[name] = value
        return "?" + query.urlencode()

    context = {
        "page": page,
        "filters": filters,
        "actions": sorted(ACTIONS.items()),
        "older_link": link(before=page.next_before) if page.next_before else None,
        "newer_link": link(after=page.newer_after) if page.newer_after else None,
    }
    template = (
        "audit/_events_table.html"
        if request.htmx and request.htmx.target == "audit-table"
        else "audit/list.html"
    )
    return render(request, template, context)
