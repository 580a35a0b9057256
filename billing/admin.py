import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audit import Actor
from audit.staff import PlatformObjectAudited, staff_actor
from billing import money
from billing.ledger import services
from billing.ledger.models import ModelPrice, Plan, ReconciliationFinding, Wallet, WalletEntry
from billing.limits.models import Counter, Hold
from billing.money import MoneyField, micros_to_money, money_to_micros
from billing.usage.models import UsageEvent
from gateway_console.admin import ReadOnlyAdmin
from gateway_console.models import Org


@admin.register(ModelPrice)
class ModelPriceAdmin(PlatformObjectAudited, admin.ModelAdmin):
    """Prices belong to no org: each change goes to the platform log (audit.staff)."""

    audit_noun = "model_price"

    list_display = [
        "model",
        "input_per_million",
        "output_per_million",
        "max_output_tokens",
        "updated_at",
    ]
    search_fields = ["model"]


@admin.register(Plan)
class PlanAdmin(PlatformObjectAudited, admin.ModelAdmin):
    """Plans belong to no org: each change goes to the platform log (audit.staff)."""

    list_display = ["name", "price_multiplier"]
    filter_horizontal = ["models"]


def _dollars(micros: int) -> str:
    return money.display(micros_to_money(micros))


class WalletMoneyForm(forms.Form):
    """What platform staff may do to a wallet; each choice is one service (billing.ledger.services)."""

    ACTIONS = {
        "top_up": "Top up (adds the amount)",
        "adjust": "Adjust (a correction, + or −)",
        "refund": "Refund (adds the amount; needs a reference)",
    }

    action = forms.ChoiceField(choices=ACTIONS.items(), widget=forms.RadioSelect, initial="top_up")
    amount = MoneyField(
        min_value=None,
        max_value=None,
        help_text="In USD. An adjustment may be negative; no adjustment takes the balance below 0.",
    )
    reason = forms.CharField(
        max_length=300, required=False, help_text="Required for an adjustment; the org sees it."
    )
    reference = forms.CharField(
        max_length=100, required=False, help_text="A ticket, an invoice… Required for a refund."
    )

    def clean(self):
        data = super().clean()
        action, amount = data.get("action"), data.get("amount")
        if amount is None or action is None:
            return data
        if action in ("top_up", "refund") and amount <= 0:
            self.add_error("amount", "Enter a positive amount.")
        if action == "adjust" and amount == 0:
            self.add_error("amount", "An adjustment is an amount other than zero.")
        if action == "adjust" and not data.get("reason", "").strip():
            self.add_error("reason", "Say why the wallet is adjusted.")
        if action == "refund" and not data.get("reference", "").strip():
            self.add_error("reference", "Name what is refunded (a ticket, an invoice…).")
        return data

    def change_micros(self) -> int:
        return money_to_micros(self.cleaned_data["amount"])


def _move_money(form: WalletMoneyForm, *, org: Org, actor: Actor):
    data = form.cleaned_data
    amount: Decimal = data["amount"]
    if data["action"] == "top_up":
        return services.top_up_wallet(
            org=org, actor=actor, amount=amount, reason=data["reason"], reference=data["reference"]
        )
    if data["action"] == "refund":
        return services.refund_wallet(
            org=org, actor=actor, amount=amount, reference=data["reference"], reason=data["reason"]
        )
    return services.adjust_wallet(
        org=org, actor=actor, amount=amount, reason=data["reason"], reference=data["reference"]
    )


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    """Read-only, except for the top-up / adjust page: a form, then a confirmation showing the
    org, the balance now and after; the confirmed POST goes through the audited service."""

    list_display = ["org", "balance", "held", "updated_at", "move_money_link"]
    search_fields = ["org__name", "org__slug"]
    readonly_fields = ["move_money_link"]

    @admin.display(description="Balance", ordering="balance_micros")
    def balance(self, wallet: Wallet) -> str:
        return _dollars(wallet.balance_micros)

    @admin.display(description="Held", ordering="held_micros")
    def held(self, wallet: Wallet) -> str:
        return _dollars(wallet.held_micros)

    @admin.display(description="Money")
    def move_money_link(self, wallet: Wallet) -> str:
        return format_html(
            '<a href="{}">Top up or adjust</a>',
            reverse("admin:billing_wallet_money", args=[wallet.pk]),
        )

    def get_urls(self):
        return [
            path(
                "<str:org_id>/money/",
                self.admin_site.admin_view(self.money_view),
                name="billing_wallet_money",
            ),
            *super().get_urls(),
        ]

    def may_move_money(self, request: HttpRequest) -> bool:
        return (
            request.user.is_active
            and request.user.is_staff
            and request.user.has_perm("billing.change_wallet")
        )

    def money_view(self, request: HttpRequest, org_id: str) -> HttpResponse:
        if not self.may_move_money(request):
            raise PermissionDenied
        try:
            org = get_object_or_404(Org, pk=uuid.UUID(org_id))
        except ValueError:
            raise Http404 from None
        balance = (
            Wallet.objects.filter(org=org).values_list("balance_micros", flat=True).first() or 0
        )
        form = WalletMoneyForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "org": org,
            "balance": _dollars(balance),
            "form": form,
            "title": f"Top up or adjust the wallet of {org.name}",
        }
        if request.method == "POST" and form.is_valid():
            if request.POST.get("confirmed") == "yes":
                try:
                    entry = _move_money(form, org=org, actor=staff_actor(request))
                except services.BillingActionRefused as refused:
                    form.add_error(None, str(refused))
                else:
                    messages.success(
                        request,
                        f"{entry.get_kind_display()} of {_dollars(entry.amount_micros)} for"
                        f" {org.name}: the balance is now {_dollars(entry.balance_after_micros)}.",
                    )
                    return redirect("admin:billing_wallet_changelist")
            else:
                change = form.change_micros()
                context.update(
                    title=f"Confirm: {WalletMoneyForm.ACTIONS[form.cleaned_data['action']]}",
                    action_label=WalletMoneyForm.ACTIONS[form.cleaned_data["action"]],
                    change=_dollars(change),
                    new_balance=_dollars(balance + change),
                )
                return TemplateResponse(request, "admin/billing/wallet/money_confirm.html", context)
        return TemplateResponse(request, "admin/billing/wallet/money_form.html", context)


@admin.register(WalletEntry)
class WalletEntryAdmin(ReadOnlyAdmin):
    """The ledger, append-only in the database too (migration 0003)."""

    list_display = [
        "id",
        "created_at",
        "org",
        "kind",
        "amount",
        "balance_after",
        "reason",
        "reference",
        "actor_label",
    ]
    list_filter = ["kind", "org"]
    search_fields = ["reference", "reason", "actor_label", "org__slug"]
    list_select_related = ["org"]

    @admin.display(description="Amount", ordering="amount_micros")
    def amount(self, entry: WalletEntry) -> str:
        return _dollars(entry.amount_micros)

    @admin.display(description="Balance after", ordering="balance_after_micros")
    def balance_after(self, entry: WalletEntry) -> str:
        return _dollars(entry.balance_after_micros)


@admin.register(ReconciliationFinding)
class ReconciliationFindingAdmin(ReadOnlyAdmin):
    """What reconcile_wallets found; staff look into each, nothing here changes money."""

    list_display = ["found_at", "kind", "org", "subject", "expected", "actual", "detail"]
    list_filter = ["kind", "org"]
    search_fields = ["subject", "detail"]
    list_select_related = ["org"]

    @admin.display(description="Expected (from ledger or usage)", ordering="expected_micros")
    def expected(self, finding: ReconciliationFinding) -> str:
        return "—" if finding.expected_micros is None else _dollars(finding.expected_micros)

    @admin.display(description="Found", ordering="actual_micros")
    def actual(self, finding: ReconciliationFinding) -> str:
        return "—" if finding.actual_micros is None else _dollars(finding.actual_micros)


@admin.register(Counter)
class CounterAdmin(ReadOnlyAdmin):
    list_display = [
        "org",
        "key",
        "team",
        "kind",
        "period_start",
        "period_end",
        "spend_micros",
        "tokens",
        "held_micros",
    ]
    list_filter = ["kind"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = [
        "request_id",
        "org",
        "key",
        "amount_micros",
        "created_at",
        "expires_at",
        "closed_at",
    ]


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = [
        "request_id",
        "org",
        "key",
        "model",
        "input_tokens",
        "output_tokens",
        "cost_micros",
        "occurred_at",
    ]
    search_fields = ["request_id"]
