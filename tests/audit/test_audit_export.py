"""Export of the audit log as CSV and JSON Lines: streamed, filtered like the page, and
checkable outside the console with the recipe documented in audit.export."""

import csv
import io
import json

import pytest
from django.db import connection, transaction
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import audit
from audit import Actor, export, selectors
from audit.chain import HASHED_FIELDS
from audit.models import AuditEvent
from billing.limits.services import create_team
from keys import services as key_services
from keys.services import KeySettings
from tests.audit.anchoring import tamper

pytestmark = pytest.mark.django_db

CSV = reverse("audit:export", args=["csv"])
JSONL = reverse("audit:export", args=["jsonl"])
ALICE = Actor(type="user", id="1", label="alice@example.com", role="admin")
BOB = Actor(type="user", id="2", label="bob@example.com", role="owner")


def _events(org, count: int, *, actor: Actor = ALICE) -> None:
    with transaction.atomic():
        for n in range(1, count + 1):
            audit.record(
                org=org,
                actor=actor,
                action="team.updated",
                changes={"spend_cap": {"before": None, "after": f"{n}.000000"}},
                data={"note": f'ünïcode, "quoted"\nline {n}'},
            )


def _body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def _recipe() -> dict:
    """The recipe exactly as the module docstring and the page show it."""
    namespace = {"__name__": "recipe"}
    exec(export.recipe(), namespace)  # our own documented recipe, as a reader would run it
    return namespace


def _verify(tmp_path, body: str, fmt: str):
    path = tmp_path / f"export.{fmt}"
    path.write_text(body, encoding="utf-8")
    recipe = _recipe()
    return recipe["first_bad_event"](recipe["rows_of"](str(path)))


@pytest.mark.parametrize("url", [CSV, JSONL])
@pytest.mark.parametrize("client_name", ["owner_client", "admin_client", "auditor_client"])
def test_readers_download_an_attachment_named_for_the_org_and_day(request, client_name, url, org):
    _events(org, 3)

    response = request.getfixturevalue(client_name).get(url)

    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="audit-acme-')
    assert disposition.endswith('.csv"' if url == CSV else '.jsonl"')
    assert isinstance(response, StreamingHttpResponse)


@pytest.mark.parametrize("url", [CSV, JSONL])
def test_member_gets_403(member_client, org, url):
    _events(org, 3)

    response = member_client.get(url)

    assert response.status_code == 403


def test_an_unknown_format_is_a_404(admin_client):
    assert admin_client.get(reverse("audit:export", args=["xml"])).status_code == 404


def test_the_export_streams_one_chunk_per_event(admin_client, org):
    _events(org, 40)

    response = admin_client.get(JSONL)

    assert isinstance(response, StreamingHttpResponse)
    chunks = list(response.streaming_content)
    assert len(chunks) == 40
    assert [json.loads(chunk)["seq"] for chunk in chunks] == list(range(1, 41))


def test_csv_has_every_hashed_field_and_the_hash(admin_client, org):
    _events(org, 2)

    rows = list(csv.DictReader(io.StringIO(_body(admin_client.get(CSV)))))

    assert list(rows[0]) == [*HASHED_FIELDS, "hash"]
    stored = AuditEvent.objects.get(org=org, seq=2)
    assert rows[1]["seq"] == "2"
    assert rows[1]["prev_hash"] == stored.prev_hash == rows[0]["hash"]
    assert rows[1]["hash"] == stored.hash
    assert json.loads(rows[1]["data"]) == {"note": 'ünïcode, "quoted"\nline 2'}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_of_an_intact_chain_passes_the_recipe(admin_client, org, tmp_path, fmt):
    _events(org, 25)
    create_team(org=org, actor=BOB, name="Bravo")

    body = _body(admin_client.get(reverse("audit:export", args=[fmt])))

    assert _verify(tmp_path, body, fmt) is None


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_filtered_export_passes_the_recipe(admin_client, org, tmp_path, fmt):
    _events(org, 5, actor=ALICE)
    _events(org, 5, actor=BOB)

    body = _body(admin_client.get(reverse("audit:export", args=[fmt]), {"actor": "bob"}))

    assert _verify(tmp_path, body, fmt) is None
    assert "alice@example.com" not in body
    assert body.count("bob@example.com") == 5


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_of_a_tampered_chain_fails_the_recipe_at_that_event(
    admin_client, org, tmp_path, fmt
):
    _events(org, 12)
    tamper(AuditEvent.objects.get(org=org, seq=7), "actor_label")

    body = _body(admin_client.get(reverse("audit:export", args=[fmt])))

    assert _verify(tmp_path, body, fmt) == (7, "hash mismatch: the event was changed")


def test_an_edited_export_fails_the_recipe(admin_client, org, tmp_path):
    _events(org, 5)
    body = _body(admin_client.get(JSONL))

    edited = body.replace('"after":"3.000000"', '"after":"300.000000"')

    assert edited != body
    assert _verify(tmp_path, edited, "jsonl") == (3, "hash mismatch: the event was changed")


def test_renumbering_an_event_to_hide_another_fails_the_recipe(admin_client, org, tmp_path):
    _events(org, 5)
    lines = _body(admin_client.get(JSONL)).splitlines(keepends=True)
    rows = [json.loads(line) for line in lines]
    # Someone renumbers event 4 as 3 to hide event 3: its hash no longer holds.
    rows[3]["seq"] = 3
    forged = "".join(json.dumps(row) + "\n" for row in rows[:2] + rows[3:])

    assert _verify(tmp_path, forged, "jsonl")[0] == 3


def test_the_export_reads_in_keyset_chunks(admin_client, org, auditor_membership):
    _events(org, 30)

    with CaptureQueriesContext(connection) as queries:
        seqs = [e.seq for e in selectors.events_for_export(auditor_membership, chunk_size=7)]

    assert seqs == list(range(1, 31))
    assert len(queries) == 5  # 7 + 7 + 7 + 7 + 2
    assert all("OFFSET" not in query["sql"] for query in queries.captured_queries)


def test_the_auditor_exports_and_changes_nothing(auditor_client, org):
    _events(org, 3)
    before = list(AuditEvent.objects.values_list("seq", "hash"))

    auditor_client.get(CSV)
    auditor_client.get(JSONL)

    assert list(AuditEvent.objects.values_list("seq", "hash")) == before


def test_another_orgs_events_are_never_exported(admin_client, org, other_org):
    create_team(org=other_org, actor=BOB, name="Globex Secret")
    create_team(org=org, actor=ALICE, name="Acme Search")

    body = _body(admin_client.get(JSONL))

    assert "Globex Secret" not in body
    assert "Acme Search" in body


# Spreadsheets run a cell that starts with = + - @ (or a tab, or a CR) as a formula; the CSV
# quotes such text (gateway_console.csv_cells), and the recipe still checks every event.

HOSTILE_NAMES = ['=HYPERLINK("http://evil")', "+1", "-2+3", "@SUM(A1)"]
HOSTILE_AGENTS = ["\t=1+1", '\r=HYPERLINK("http://evil")']


def _hostile_history(org) -> None:
    with transaction.atomic():
        for n, name in enumerate(HOSTILE_NAMES):
            actor = Actor(
                type="user",
                id="1",
                label="alice@example.com",
                role="admin",
                user_agent=HOSTILE_AGENTS[n % 2],
            )
            key_services.create_key(org=org, actor=actor, settings_=KeySettings(name=name))
            create_team(org=org, actor=actor, name=name)
        create_team(org=org, actor=ALICE, name="'quoted")


def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote_in_front(admin_client, org):
    _hostile_history(org)

    rows = list(csv.DictReader(io.StringIO(_body(admin_client.get(CSV)), newline="")))

    labels = [row["target_label"] for row in rows]
    for name in HOSTILE_NAMES:
        # The team, and the key (its label ends with its preview).
        assert "'" + name in labels
        assert any(label.startswith(f"'{name} (sk-gw-") for label in labels)
        assert not any(label.startswith(name) for label in labels)
    assert "''quoted" in labels
    assert {row["user_agent"] for row in rows} == {"'" + agent for agent in HOSTILE_AGENTS} | {""}
    # Ordinary values are as they were.
    assert {row["actor_label"] for row in rows} == {"alice@example.com"}
    assert [row["seq"] for row in rows] == [str(n) for n in range(1, len(rows) + 1)]
    assert {row["action"] for row in rows} == {"key.created", "team.created"}


def test_a_csv_with_quoted_cells_passes_the_recipe_and_an_edit_still_fails_it(
    admin_client, org, tmp_path
):
    _hostile_history(org)
    body = _body(admin_client.get(CSV))

    assert _verify(tmp_path, body, "csv") is None
    # Unquoting is not a loophole: a formula put back in place of its quoted text is an edit.
    edited = body.replace("'+1", "+2", 1)
    assert edited != body
    assert _verify(tmp_path, edited, "csv") is not None


def test_the_jsonl_export_keeps_the_exact_text(admin_client, org):
    _hostile_history(org)

    lines = _body(admin_client.get(JSONL)).splitlines()

    labels = [json.loads(line)["target_label"] for line in lines]
    assert '=HYPERLINK("http://evil")' in labels
    assert "'quoted" in labels
