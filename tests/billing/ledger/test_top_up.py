"""The wallet services: top_up_wallet, adjust_wallet and refund_wallet. Each appends exactly one
ledger entry with the balance its own statement returned, and records exactly one audit event."""

from decimal import Decimal

import pytest

from audit import Actor
from audit.actions import describe
from audit.models import AuditEvent
from billing.ledger.models import EntryKind, Wallet, WalletEntry
from billing.ledger.services import (
    BillingActionRefused,
    adjust_wallet,
    refund_wallet,
    top_up_wallet,
)

pytestmark = pytest.mark.django_db

STAFF = Actor(type="user", id="42", label="ops@platform.example", role="staff")


def balance_of(org) -> int:
    return Wallet.objects.get(org=org).balance_micros


def entries_of(org) -> list[WalletEntry]:
    return list(WalletEntry.objects.filter(org=org).order_by("id"))


def wallet_events(org) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(org=org, action__startswith="wallet.").order_by("seq"))


def test_top_up_appends_one_entry_with_the_balance_after(org):
    top_up_wallet(org=org, actor=STAFF, amount=Decimal("100.00"), reason="invoice paid")
    entry = top_up_wallet(
        org=org, actor=STAFF, amount=Decimal("25.50"), reason="more", reference="INV-7"
    )

    assert balance_of(org) == 125_500_000
    assert [(e.kind, e.amount_micros, e.balance_after_micros) for e in entries_of(org)] == [
        (EntryKind.TOP_UP, 100_000_000, 100_000_000),
        (EntryKind.TOP_UP, 25_500_000, 125_500_000),
    ]
    assert (entry.reason, entry.reference) == ("more", "INV-7")
    assert (entry.actor_type, entry.actor_id, entry.actor_label) == (
        "user",
        "42",
        "ops@platform.example",
    )


def test_top_up_creates_the_wallet_of_an_org_that_has_none(org):
    assert not Wallet.objects.filter(org=org).exists()

    entry = top_up_wallet(org=org, actor=STAFF, amount=Decimal("5"))

    assert balance_of(org) == 5_000_000
    assert entry.balance_after_micros == 5_000_000


def test_top_up_records_one_audit_event_naming_amount_and_balance_after(org):
    top_up_wallet(org=org, actor=STAFF, amount=Decimal("10"))
    entry = top_up_wallet(org=org, actor=STAFF, amount=Decimal("2.5"), reason="goodwill")

    events = wallet_events(org)
    assert [e.action for e in events] == ["wallet.topped_up", "wallet.topped_up"]
    assert events[-1].data == {
        "amount": "2.500000",
        "balance_after": "12.500000",
        "reason": "goodwill",
        "reference": "",
        "entry": entry.pk,
    }
    assert (events[-1].actor_label, events[-1].actor_role) == ("ops@platform.example", "staff")
    assert events[-1].target_id == str(org.pk)


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1"), Decimal("0.0000001")])
def test_top_up_of_nothing_or_less_is_refused_and_writes_nothing(org, amount):
    with pytest.raises(BillingActionRefused):
        top_up_wallet(org=org, actor=STAFF, amount=amount)

    assert entries_of(org) == []
    assert wallet_events(org) == []


def test_top_up_refuses_a_float(org):
    with pytest.raises(TypeError):
        top_up_wallet(org=org, actor=STAFF, amount=0.1)

    assert entries_of(org) == []


def test_adjustment_either_way_appends_signed_entries_and_audit_events(org):
    top_up_wallet(org=org, actor=STAFF, amount=Decimal("50"))

    up = adjust_wallet(org=org, actor=STAFF, amount=Decimal("3.25"), reason="credit note 12")
    down = adjust_wallet(org=org, actor=STAFF, amount=Decimal("-10"), reason="double top-up")

    assert (up.kind, up.amount_micros, up.balance_after_micros) == (
        EntryKind.ADJUSTMENT,
        3_250_000,
        53_250_000,
    )
    assert (down.kind, down.amount_micros, down.balance_after_micros) == (
        EntryKind.ADJUSTMENT,
        -10_000_000,
        43_250_000,
    )
    assert down.reason == "double top-up"
    assert balance_of(org) == 43_250_000
    adjusted = [e for e in wallet_events(org) if e.action == "wallet.adjusted"]
    assert [(e.data["amount"], e.data["balance_after"], e.data["reason"]) for e in adjusted] == [
        ("3.250000", "53.250000", "credit note 12"),
        ("-10.000000", "43.250000", "double top-up"),
    ]


@pytest.mark.parametrize(
    ("amount", "reason"), [(Decimal("5"), ""), (Decimal("5"), "   "), (Decimal("0"), "typo")]
)
def test_adjustment_without_a_reason_or_of_zero_is_refused(org, amount, reason):
    with pytest.raises(BillingActionRefused):
        adjust_wallet(org=org, actor=STAFF, amount=amount, reason=reason)

    assert entries_of(org) == []
    assert wallet_events(org) == []


def test_adjustment_cannot_take_the_balance_below_zero(org):
    top_up_wallet(org=org, actor=STAFF, amount=Decimal("10"))

    with pytest.raises(BillingActionRefused, match="below"):
        adjust_wallet(org=org, actor=STAFF, amount=Decimal("-10.000001"), reason="too much")
    exactly = adjust_wallet(org=org, actor=STAFF, amount=Decimal("-10"), reason="all of it")

    assert exactly.balance_after_micros == 0
    assert balance_of(org) == 0
    assert [e.kind for e in entries_of(org)] == [EntryKind.TOP_UP, EntryKind.ADJUSTMENT]
    assert [e.action for e in wallet_events(org)] == ["wallet.topped_up", "wallet.adjusted"]


def test_negative_adjustment_of_an_org_without_a_wallet_is_refused(org):
    with pytest.raises(BillingActionRefused):
        adjust_wallet(org=org, actor=STAFF, amount=Decimal("-1"), reason="nothing to take")

    assert not Wallet.objects.filter(org=org).exists()
    assert entries_of(org) == []


def test_refund_appends_a_refund_entry_and_a_wallet_refunded_event(org):
    top_up_wallet(org=org, actor=STAFF, amount=Decimal("1"))

    entry = refund_wallet(
        org=org, actor=STAFF, amount=Decimal("0.40"), reference="TICKET-981", reason="outage"
    )

    assert (entry.kind, entry.amount_micros, entry.balance_after_micros) == (
        EntryKind.REFUND,
        400_000,
        1_400_000,
    )
    assert entry.reference == "TICKET-981"
    event = wallet_events(org)[-1]
    assert event.action == "wallet.refunded"
    assert event.data["amount"] == "0.400000"
    assert event.data["balance_after"] == "1.400000"
    assert event.data["reference"] == "TICKET-981"
    assert describe("wallet.refunded") == "refunded to the wallet"


@pytest.mark.parametrize(
    ("amount", "reference"), [(Decimal("1"), ""), (Decimal("0"), "T-1"), (Decimal("-1"), "T-1")]
)
def test_refund_without_a_reference_or_of_nothing_is_refused(org, amount, reference):
    with pytest.raises(BillingActionRefused):
        refund_wallet(org=org, actor=STAFF, amount=amount, reference=reference)

    assert entries_of(org) == []
    assert wallet_events(org) == []


def test_a_reference_longer_than_the_ledger_keeps_is_refused_not_cut(org):
    with pytest.raises(BillingActionRefused):
        refund_wallet(org=org, actor=STAFF, amount=Decimal("1"), reference="x" * 101)

    assert entries_of(org) == []
