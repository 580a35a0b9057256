"""The audit page's "Check the chain" button: a POST that walks the org's chain and says
whether it holds, or which event is the first that does not."""

import pytest
from django.urls import reverse

from audit import Actor
from audit.models import AuditEvent
from billing.limits.services import create_team
from tests.audit.anchoring import tamper

pytestmark = pytest.mark.django_db

URL = reverse("audit:check-chain")


@pytest.fixture
def chain(org, other_org):
    for name in ("Alpha", "Bravo", "Charlie", "Delta"):
        create_team(org=org, actor=Actor.system("tests"), name=name)
    create_team(org=other_org, actor=Actor.system("tests"), name="Globex")


@pytest.mark.parametrize("client_name", ["owner_client", "admin_client", "auditor_client"])
def test_it_reports_that_the_whole_chain_holds(request, client_name, chain):
    response = request.getfixturevalue(client_name).post(URL)

    assert response.status_code == 200
    assert "The whole chain holds: 4 events checked." in response.content.decode()
    assert response.context["chain_check"].checked == 4


def test_it_names_the_first_broken_event(admin_client, chain, org):
    tamper(AuditEvent.objects.get(org=org, seq=3), "target_label")

    response = admin_client.post(URL)

    html = response.content.decode()
    assert "broken at event <strong>#3</strong>" in html
    assert "hash mismatch" in html
    assert "3 events checked" in html


def test_an_htmx_request_gets_only_the_result(admin_client, chain):
    response = admin_client.post(URL, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="chain-check")

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="chain-check"')
    assert "<h1>" not in html
    assert "4 events checked" in html


def test_without_javascript_it_shows_the_whole_page_with_the_result(admin_client, chain):
    response = admin_client.post(URL + "?action=team.created")

    html = response.content.decode()
    assert "<h1>Audit log</h1>" in html
    assert "The whole chain holds" in html
    assert [e.seq for e in response.context["page"].rows] == [4, 3, 2, 1]


def test_it_rejects_get(admin_client, chain):
    assert admin_client.get(URL).status_code == 405


def test_member_gets_403(member_client, chain):
    response = member_client.post(URL)

    assert response.status_code == 403


def test_it_requires_the_csrf_token(admin_membership, chain):
    from django.test import Client

    from gateway_console.middleware import SESSION_ORG_KEY

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_membership.user)
    session = client.session
    session[SESSION_ORG_KEY] = str(admin_membership.org_id)
    session.save()

    assert client.post(URL).status_code == 403


def test_the_auditor_checks_and_changes_nothing(auditor_client, chain):
    before = list(AuditEvent.objects.values_list("org_id", "seq", "hash"))

    auditor_client.post(URL)

    assert list(AuditEvent.objects.values_list("org_id", "seq", "hash")) == before


def test_the_page_has_the_button_as_a_form_with_csrf(admin_client, chain):
    html = admin_client.get(reverse("audit:list")).content.decode()

    assert f'action="{URL}"' in html
    assert "csrfmiddlewaretoken" in html
    assert "Check the chain" in html
