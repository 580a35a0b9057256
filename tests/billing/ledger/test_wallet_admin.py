"""Platform staff top up, adjust or refund a wallet in Django admin: a form, a confirmation
page with the org, the balance now and after, and a confirmed POST that goes through the
audited service. Wallets, the ledger and reconciliation findings are read-only otherwise."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from audit import Actor
from audit.models import AuditEvent
from billing.ledger.models import EntryKind, ReconciliationFinding, Wallet, WalletEntry
from billing.ledger.reconcile import reconcile_all
from billing.ledger.services import top_up_wallet
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff_user(db):
    return UserFactory(email="ops@platform.example", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff_user):
    return client_for(staff_user)


@pytest.fixture
def funded_org(org):
    top_up_wallet(org=org, actor=Actor.system("tests"), amount=Decimal("100"))
    return org


def money_url(org) -> str:
    return reverse("admin:billing_wallet_money", args=[org.pk])


def wallet_events(org) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(org=org, action__startswith="wallet.").order_by("seq"))


def test_staff_sees_the_form_with_the_org_and_its_balance(staff_client, funded_org):
    response = staff_client.get(money_url(funded_org))

    assert response.status_code == 200
    assert "Acme" in response.text
    assert "$100.00" in response.text
    assert 'name="amount"' in response.text


def test_a_valid_form_shows_the_confirmation_with_the_new_balance_and_changes_nothing(
    staff_client, funded_org
):
    response = staff_client.post(
        money_url(funded_org), {"action": "top_up", "amount": "50", "reason": "invoice 7"}
    )

    assert response.status_code == 200
    assert response.templates[0].name == "admin/billing/wallet/money_confirm.html"
    assert (response.context["balance"], response.context["new_balance"]) == ("$100.00", "$150.00")
    assert "Acme" in response.text
    assert '<td id="new-balance"><strong>$150.00</strong></td>' in response.text
    assert 'name="confirmed" value="yes"' in response.text
    assert WalletEntry.objects.filter(org=funded_org).count() == 1
    assert len(wallet_events(funded_org)) == 1


def test_the_confirmed_top_up_writes_one_entry_and_one_audit_event_by_the_staff_member(
    staff_client, staff_user, funded_org
):
    response = staff_client.post(
        money_url(funded_org),
        {"action": "top_up", "amount": "50", "reason": "invoice 7", "confirmed": "yes"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:billing_wallet_changelist")
    entry = WalletEntry.objects.filter(org=funded_org).order_by("-id").first()
    assert (entry.kind, entry.amount_micros, entry.balance_after_micros, entry.reason) == (
        EntryKind.TOP_UP,
        50_000_000,
        150_000_000,
        "invoice 7",
    )
    assert (entry.actor_type, entry.actor_id, entry.actor_label) == (
        "user",
        str(staff_user.pk),
        "ops@platform.example",
    )
    event = wallet_events(funded_org)[-1]
    assert event.action == "wallet.topped_up"
    assert (event.actor_id, event.actor_label, event.actor_role) == (
        str(staff_user.pk),
        "ops@platform.example",
        "staff",
    )
    assert event.data["amount"] == "50.000000"
    assert event.data["balance_after"] == "150.000000"
    assert len(wallet_events(funded_org)) == 2
    assert Wallet.objects.get(org=funded_org).balance_micros == 150_000_000


def test_a_negative_adjustment_is_confirmed_with_the_lower_balance_then_written(
    staff_client, funded_org
):
    form = {"action": "adjust", "amount": "-10", "reason": "double top-up"}

    confirmation = staff_client.post(money_url(funded_org), form)
    done = staff_client.post(money_url(funded_org), {**form, "confirmed": "yes"})

    assert confirmation.context["new_balance"] == "$90.00"
    assert done.status_code == 302
    entry = WalletEntry.objects.filter(org=funded_org).order_by("-id").first()
    assert (entry.kind, entry.amount_micros, entry.balance_after_micros) == (
        EntryKind.ADJUSTMENT,
        -10_000_000,
        90_000_000,
    )
    assert wallet_events(funded_org)[-1].action == "wallet.adjusted"


def test_an_adjustment_without_a_reason_shows_the_error_beside_the_field(staff_client, funded_org):
    response = staff_client.post(
        money_url(funded_org), {"action": "adjust", "amount": "5", "confirmed": "yes"}
    )

    assert response.status_code == 200
    assert response.templates[0].name == "admin/billing/wallet/money_form.html"
    assert response.context["form"].errors == {"reason": ["Say why the wallet is adjusted."]}
    assert WalletEntry.objects.filter(org=funded_org).count() == 1


def test_an_adjustment_below_zero_is_refused_on_confirmation_and_writes_nothing(
    staff_client, funded_org
):
    response = staff_client.post(
        money_url(funded_org),
        {"action": "adjust", "amount": "-100.01", "reason": "too much", "confirmed": "yes"},
    )

    assert response.status_code == 200
    assert "below" in response.text
    assert Wallet.objects.get(org=funded_org).balance_micros == 100_000_000
    assert WalletEntry.objects.filter(org=funded_org).count() == 1
    assert len(wallet_events(funded_org)) == 1


def test_a_refund_needs_a_reference(staff_client, funded_org):
    response = staff_client.post(
        money_url(funded_org), {"action": "refund", "amount": "1", "confirmed": "yes"}
    )

    assert "reference" in response.context["form"].errors
    assert WalletEntry.objects.filter(org=funded_org).count() == 1


def test_staff_can_top_up_an_org_that_has_no_wallet_row_yet(staff_client, org):
    response = staff_client.post(
        money_url(org), {"action": "top_up", "amount": "7", "confirmed": "yes"}
    )

    assert response.status_code == 302
    assert Wallet.objects.get(org=org).balance_micros == 7_000_000


def test_an_org_member_who_is_not_staff_cannot_reach_the_page(admin_client, funded_org):
    get = admin_client.get(money_url(funded_org))
    post = admin_client.post(
        money_url(funded_org), {"action": "top_up", "amount": "50", "confirmed": "yes"}
    )

    for response in (get, post):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert WalletEntry.objects.filter(org=funded_org).count() == 1
    assert len(wallet_events(funded_org)) == 1


def test_staff_without_the_wallet_permission_is_refused(funded_org):
    client = client_for(UserFactory(is_staff=True))

    response = client.post(
        money_url(funded_org), {"action": "top_up", "amount": "50", "confirmed": "yes"}
    )

    assert response.status_code == 403
    assert WalletEntry.objects.filter(org=funded_org).count() == 1


def test_staff_with_the_wallet_permission_may_move_money(funded_org):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_wallet"))

    response = client_for(user).post(
        money_url(funded_org), {"action": "top_up", "amount": "1", "confirmed": "yes"}
    )

    assert response.status_code == 302
    assert WalletEntry.objects.filter(org=funded_org).count() == 2


def test_an_unknown_org_is_a_404(staff_client):
    assert staff_client.get("/admin/billing/wallet/not-a-uuid/money/").status_code == 404
    assert (
        staff_client.get(
            "/admin/billing/wallet/00000000-0000-0000-0000-000000000000/money/"
        ).status_code
        == 404
    )


def test_the_wallet_list_links_to_the_money_page_and_shows_balances(staff_client, funded_org):
    response = staff_client.get(reverse("admin:billing_wallet_changelist"))

    assert response.status_code == 200
    assert money_url(funded_org) in response.text
    assert "$100.00" in response.text


@pytest.mark.parametrize(
    "model", ["wallet", "walletentry", "reconciliationfinding"], ids=lambda m: m
)
def test_wallets_ledger_and_findings_cannot_be_added_changed_or_deleted_in_admin(
    staff_client, funded_org, model
):
    if model == "reconciliationfinding":
        Wallet.objects.filter(org=funded_org).update(balance_micros=1)
        reconcile_all()
        obj = ReconciliationFinding.objects.get()
    elif model == "walletentry":
        obj = WalletEntry.objects.get(org=funded_org)
    else:
        obj = Wallet.objects.get(org=funded_org)

    add = staff_client.get(reverse(f"admin:billing_{model}_add"))
    change = staff_client.post(reverse(f"admin:billing_{model}_change", args=[obj.pk]), {})
    delete = staff_client.post(
        reverse(f"admin:billing_{model}_delete", args=[obj.pk]), {"post": "yes"}
    )

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_staff_see_reconciliation_findings_in_admin(staff_client, funded_org):
    Wallet.objects.filter(org=funded_org).update(balance_micros=1)
    reconcile_all()

    response = staff_client.get(reverse("admin:billing_reconciliationfinding_changelist"))

    assert response.status_code == 200
    assert "Wallet of acme: balance $0.000001, but its 1 ledger entries sum to" in response.text
