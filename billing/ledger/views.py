"""The billing pages (org admins and auditors): the wallet, the plan and prices, the ledger."""

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from billing.ledger import selectors
from billing.ledger.models import EntryKind, Wallet
from billing.pricing import micros_to_money
from gateway_console.roles import role_required

# The billing pages (org admins and auditors) -------------------------------------------------


@role_required("reader")
def billing_overview(request: HttpRequest) -> HttpResponse:
    org = request.membership.org
    wallet = Wallet.objects.filter(org=org).first()
    context = {
        "balance": micros_to_money(wallet.balance_micros) if wallet else None,
        "held": micros_to_money(wallet.held_micros) if wallet else None,
        "plan": org.plan,
        "prices": selectors.prices_for(org),
        "recent": selectors.ledger_of(org, page_size=10)[0],
    }
    return render(request, "billing/overview.html", context)


@role_required("reader")
def ledger(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    kind = kind if kind in EntryKind.values else ""
    before = request.GET.get("before", "")
    entries, next_before = selectors.ledger_of(
        request.membership.org, kind=kind, before_id=int(before) if before.isdigit() else None
    )
    query = QueryDict(mutable=True)
    if kind:
        query["kind"] = kind
    older = None
    if next_before:
        query["before"] = str(next_before)
        older = "?" + query.urlencode()
    context = {"entries": entries, "kind": kind, "kinds": EntryKind.choices, "older_link": older}
    template = (
        "billing/_ledger_table.html"
        if request.htmx and request.htmx.target == "ledger-table"
        else "billing/ledger.html"
    )
    return render(request, template, context)
