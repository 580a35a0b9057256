"""What the tests of audit anchoring share (fixtures in conftest): the checkpoints written,
and an attacker who can write the database (past the append-only triggers,
as the table's owner can) but holds neither the key nor the checkpoints."""

import json
from contextlib import contextmanager
from pathlib import Path

from django.db import connection, transaction

import audit
from audit import Actor, append_only
from audit.chain import PLATFORM_HASHED_FIELDS, event_hash
from audit.models import PlatformEvent
from billing.ledger.models import Plan


def add_platform_event(name: str) -> None:
    with transaction.atomic():
        plan = Plan.objects.create(name=name)
        audit.record_platform(
            actor=Actor.system("tests"), action="plan.created_by_staff", target=plan
        )


def checkpoint_lines(directory: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(directory.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


@contextmanager
def triggers_off(model):
    """The append-only triggers of `model`'s table off for the block, back on after it."""
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # ALTER TABLE waits for no pending (deferred foreign key) trigger events.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        yield
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    else:
        editor = connection.schema_editor()
        append_only.uninstall(editor, table)
        yield
        append_only.install(editor, table)


def tamper(event, field: str) -> str:
    """Changes the last character of one stored event's `field`, as someone with the table
    owner's rights could: past the append-only triggers, which come back at once. Returns the
    new value."""
    value = getattr(event, field)
    tampered = value[:-1] + ("x" if value[-1] != "x" else "y")
    with triggers_off(type(event)):
        type(event).objects.filter(pk=event.pk).update(**{field: tampered})
    return tampered


def recompute_from(events, seq: int, data: dict) -> None:
    """Rewrites the data of the event at `seq` and recomputes its hash and every later event's
    link and hash with the project's own hashing: the chain holds again."""
    fields = {"fields": PLATFORM_HASHED_FIELDS} if events.model is PlatformEvent else {}
    prev_hash = None
    with triggers_off(events.model):
        for event in events.filter(seq__gte=seq).order_by("seq"):
            if event.seq == seq:
                event.data = data
            else:
                event.prev_hash = prev_hash
            event.hash = event_hash(event, **fields)
            prev_hash = event.hash
            events.model.objects.filter(pk=event.pk).update(
                data=event.data, prev_hash=event.prev_hash, hash=event.hash
            )


def cut_tail(events, count: int) -> None:
    """Deletes the chain's last `count` events: what is left still links from genesis."""
    last = list(events.order_by("-seq").values_list("pk", flat=True)[:count])
    with triggers_off(events.model), connection.cursor() as cursor:
        table = events.model._meta.db_table
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(last))})", last)
