"""The audit log page: newest first, filters, keyset pages, htmx fragment, one org only."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import audit
from audit import Actor
from billing.limits.services import create_team

pytestmark = pytest.mark.django_db

URL = reverse("audit:list")
ALICE = Actor(type="user", id="1", label="alice@example.com", role="admin")
BOB = Actor(type="user", id="2", label="bob@example.com", role="owner")


def _events(org, count: int, *, actor: Actor = ALICE, prefix: str = "event") -> None:
    with transaction.atomic():
        for n in range(1, count + 1):
            audit.record(org=org, actor=actor, action="keys.moved", data={"n": f"{prefix}-{n}"})


def _seqs(response) -> list[int]:
    return [event.seq for event in response.context["page"].rows]


@pytest.fixture
def teams_made(org):
    """Three events, each naming its own team, by two people."""
    return [
        create_team(org=org, actor=ALICE, name="Alpha"),
        create_team(org=org, actor=BOB, name="Bravo"),
        create_team(org=org, actor=ALICE, name="Charlie"),
    ]


@pytest.mark.parametrize("client_name", ["admin_client", "auditor_client", "owner_client"])
def test_readers_see_the_events_newest_first(request, client_name, teams_made):
    client = request.getfixturevalue(client_name)

    response = client.get(URL)

    assert response.status_code == 200
    assert _seqs(response) == [3, 2, 1]
    page = response.content.decode()
    assert page.index("Charlie") < page.index("Bravo") < page.index("Alpha")
    assert "team.created" in page
    assert "bob@example.com" in page


def test_member_gets_403(member_client, teams_made):
    response = member_client.get(URL)

    assert response.status_code == 403
    assert b"Charlie" not in response.content


def test_anonymous_visitor_is_sent_to_sign_in(client, teams_made):
    response = client.get(URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("sign-in"))


def test_it_filters_by_actor_email(admin_client, teams_made):
    response = admin_client.get(URL, {"actor": "BOB@example.com"})

    assert _seqs(response) == [2]
    assert "Bravo" in response.content.decode()
    assert "Charlie" not in response.content.decode()


def test_it_filters_by_part_of_the_actor(admin_client, teams_made):
    response = admin_client.get(URL, {"actor": "alice"})

    assert _seqs(response) == [3, 1]


def test_it_filters_by_action(admin_client, org, teams_made):
    _events(org, 2)

    assert _seqs(admin_client.get(URL, {"action": "team.created"})) == [3, 2, 1]
    assert _seqs(admin_client.get(URL, {"action": "keys.moved"})) == [5, 4]
    assert _seqs(admin_client.get(URL, {"action": "keys."})) == [5, 4]
    assert _seqs(admin_client.get(URL, {"action": "key.rotated"})) == []


def test_it_filters_by_target_name_or_id(admin_client, teams_made):
    bravo = teams_made[1]

    by_name = admin_client.get(URL, {"target": "brav"})
    by_id = admin_client.get(URL, {"target": str(bravo.pk)})

    assert _seqs(by_name) == [2]
    assert _seqs(by_id) == [2]


def test_filters_stay_in_the_page_links(admin_client, org):
    _events(org, 60)

    response = admin_client.get(URL, {"action": "keys.moved", "actor": "alice"})

    older = response.context["pager"].next
    assert "action=keys.moved" in older
    assert "actor=alice" in older
    assert "before=11" in older


def test_it_pages_through_120_events_by_position_in_the_chain(admin_client, org):
    _events(org, 120)

    first = admin_client.get(URL)
    assert _seqs(first) == list(range(120, 70, -1))
    assert first.context["pager"].prev is None
    assert first.context["pager"].next == "?before=71"

    second = admin_client.get(URL, {"before": 71})
    assert _seqs(second) == list(range(70, 20, -1))
    assert second.context["pager"].next == "?before=21"
    assert second.context["pager"].prev == "?after=70"

    last = admin_client.get(URL, {"before": 21})
    assert _seqs(last) == list(range(20, 0, -1))
    assert last.context["pager"].next is None
    assert last.context["pager"].prev == "?after=20"

    back = admin_client.get(URL, {"after": 20})
    assert _seqs(back) == list(range(70, 20, -1))
    assert back.context["pager"].prev == "?after=70"

    newest = admin_client.get(URL, {"after": 70})
    assert _seqs(newest) == list(range(120, 70, -1))
    assert newest.context["pager"].prev is None
    assert newest.context["pager"].next == "?before=71"


def test_another_orgs_events_never_appear(admin_client, other_org_admin_client, org, other_org):
    create_team(org=org, actor=ALICE, name="Acme Search")
    create_team(org=other_org, actor=BOB, name="Globex Secret")

    for params in ({}, {"target": "Globex"}, {"actor": "bob@example.com"}):
        response = admin_client.get(URL, params)
        assert "Globex Secret" not in response.content.decode()
        assert all(e.org_id == org.pk for e in response.context["page"].rows)

    theirs = other_org_admin_client.get(URL)
    assert "Globex Secret" in theirs.content.decode()
    assert "Acme Search" not in theirs.content.decode()


def test_htmx_request_gets_only_the_table(admin_client, teams_made):
    response = admin_client.get(
        URL, {"actor": "alice"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="audit-table"
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="audit-table">')
    assert "<html" not in html
    assert "<h1>Audit log</h1>" not in html
    assert "Charlie" in html
    assert "Bravo" not in html
    assert response.templates[0].name == "audit/_events_table.html"


def test_full_page_has_the_filters_and_the_table(admin_client, teams_made):
    response = admin_client.get(URL)

    html = response.content.decode()
    assert "<h1>Audit log</h1>" in html
    assert 'id="audit-table"' in html
    assert 'name="actor"' in html


def _queries(client, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL, params or {}).status_code == 200
    return len(queries)


def test_query_count_does_not_grow_with_the_log(admin_client, org, django_assert_max_num_queries):
    _events(org, 5)
    with django_assert_max_num_queries(6):
        admin_client.get(URL)
    few = _queries(admin_client)

    _events(org, 115)
    with django_assert_max_num_queries(6):
        admin_client.get(URL)
    many = _queries(admin_client)
    older = _queries(admin_client, {"before": 71})

    assert few == many == older
