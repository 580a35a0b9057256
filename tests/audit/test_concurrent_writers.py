"""Many writers extending one org's chain, or the platform log's, at once never fork it or
leave gaps."""

import itertools
import threading

import pytest
from django.db import connection, transaction

import audit
from audit import Actor
from audit.chain import GENESIS_HASH, check_platform_chain, first_break
from audit.models import AuditEvent, PlatformEvent
from tests.threads import run_writers

WRITERS = 20

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
    ),
]


def test_twenty_concurrent_writers_make_one_unbroken_chain(org):
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        from django.db import connection

        try:
            start.wait(timeout=10)
            with transaction.atomic():
                audit.record(
                    org=org,
                    actor=Actor.system(f"writer-{n}"),
                    action="team.created",
                    data={"writer": n},
                )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    events = list(AuditEvent.objects.filter(org=org).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, WRITERS + 1))
    assert sorted(e.data["writer"] for e in events) == list(range(WRITERS))
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert first_break(org) is None


def test_twenty_concurrent_writers_make_one_unbroken_platform_chain():
    def write(n: int) -> None:
        with transaction.atomic():
            audit.record_platform(
                actor=Actor.system(f"writer-{n}"),
                action="plan.changed_by_staff",
                data={"writer": n},
            )

    assert run_writers(WRITERS, write) == []
    events = list(PlatformEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, WRITERS + 1))
    assert sorted(e.data["writer"] for e in events) == list(range(WRITERS))
    assert check_platform_chain().holds
