"""The billing pages (org admins and auditors): the wallet, the plan and prices, the ledger."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from billing.ledger import selectors
from billing.ledger.models import EntryKind
from billing.money import micros_to_money
from gateway_console.paging import NEWEST_FIRST, cursors, pager_links, render_list
from gateway_console.roles import role_required


@role_required("reader")
def billing_overview(request: HttpRequest) -> HttpResponse:
    org = request.membership.org
    wallet = selectors.wallet_of(org)
    context = {
        "balance": micros_to_money(wallet.balance_micros) if wallet else None,
        "held": micros_to_money(wallet.held_micros) if wallet else None,
        "plan": org.plan,
        "prices": selectors.prices_for(org),
        "recent": selectors.ledger_of(org, page_size=10).rows,
    }
    return render(request, "billing/overview.html", context)


@role_required("reader")
def ledger(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    kind = kind if kind in EntryKind.values else ""
    page = selectors.ledger_of(
        request.membership.org, kind=kind, **cursors(request.GET, NEWEST_FIRST)
    )
    context = {
        "entries": page.rows,
        "kind": kind,
        "kinds": EntryKind.choices,
        "pager": pager_links(page, query={"kind": kind}, style=NEWEST_FIRST, target="ledger-table"),
    }
    return render_list(
        request,
        template="billing/ledger.html",
        part="billing/_ledger_table.html",
        target="ledger-table",
        context=context,
    )
