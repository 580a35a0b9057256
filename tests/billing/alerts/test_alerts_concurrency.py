"""Two evaluations at once (two beat workers) raise and send each alert once (PostgreSQL)."""

import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from billing import alerts
from billing.alerts.models import Alert
from billing.limits.models import Counter
from billing.limits.periods import period_bounds
from gateway_console.models import Role
from keys.models import Key
from tests.factories import MembershipFactory, OrgFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"
    ),
]

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
MARCH = period_bounds("monthly", NOW, "UTC")


def test_concurrent_evaluations_raise_and_email_each_alert_once(mailoutbox):
    org = OrgFactory()
    MembershipFactory(org=org, role=Role.OWNER)
    keys = Key.objects.bulk_create(
        Key(
            org=org,
            name=f"key-{i}",
            secret_hash=uuid.uuid4().hex,
            display_prefix="sk-gw-",
            last4=f"{i:04d}",
            monthly_spend_cap=Decimal("100"),
        )
        for i in range(50)
    )
    Counter.objects.bulk_create(
        Counter(
            org=org,
            key=key,
            kind="month",
            period_start=MARCH[0],
            period_end=MARCH[1],
            spend_micros=90_000_000,
        )
        for key in keys
    )
    barrier = threading.Barrier(4)
    raised: list[list[int]] = []

    def worker():
        try:
            barrier.wait()
            raised.append(alerts.evaluate(now=NOW))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(raised) == 4
    every_id = [pk for ids in raised for pk in ids]
    assert len(every_id) == len(set(every_id)) == 50
    assert Alert.objects.count() == 50
    assert len(mailoutbox) == 50
