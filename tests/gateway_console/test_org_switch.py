"""The org switcher: a person in several orgs sees one org at a time, and never an org they are
not in."""

import pytest
from django.urls import reverse

from gateway_console.middleware import SESSION_ORG_KEY
from gateway_console.models import Role
from tests.factories import MembershipFactory, OrgFactory, UserFactory, make_key

pytestmark = pytest.mark.django_db

SWITCH = reverse("switch-org")
KEYS = reverse("keys:list")


@pytest.fixture
def person(org, other_org):
    user = UserFactory(email="pat@example.com")
    MembershipFactory(org=org, user=user, role=Role.ADMIN)
    MembershipFactory(org=other_org, user=user, role=Role.AUDITOR)
    return user


@pytest.fixture
def keys(org, other_org):
    return {
        "acme": make_key(org, name="acme-billing")[0],
        "globex": make_key(other_org, name="globex-search")[0],
    }


@pytest.fixture
def stranger_org(db):
    """An org someone else belongs to, with a key."""
    initech = OrgFactory(name="Initech", slug="initech")
    MembershipFactory(org=initech, role=Role.OWNER, user__email="bill@initech.example")
    make_key(initech, name="initech-tps")
    return initech


@pytest.fixture
def pat(client, person, org):
    client.force_login(person)
    session = client.session
    session[SESSION_ORG_KEY] = str(org.pk)
    session.save()
    return client


def _keys_page(client) -> str:
    response = client.get(KEYS)
    assert response.status_code == 200
    return response.content.decode()


def test_person_sees_only_the_current_orgs_keys(pat, keys):
    page = _keys_page(pat)

    assert keys["acme"].preview in page
    assert keys["globex"].preview not in page


def test_switching_shows_the_other_orgs_keys_and_role(pat, keys, other_org):
    response = pat.post(SWITCH, {"org": str(other_org.pk), "next": KEYS})

    assert response.status_code == 302
    assert response.url == KEYS
    assert pat.session[SESSION_ORG_KEY] == str(other_org.pk)
    page = _keys_page(pat)
    assert keys["globex"].preview in page
    assert keys["acme"].preview not in page
    assert "Switched to Globex." in page
    assert "role-auditor" in page
    # An auditor in Globex: the key pages of Acme are now a 404, its actions a 403.
    assert pat.get(reverse("keys:detail", args=[keys["acme"].pk])).status_code == 404
    assert pat.get(reverse("keys:new")).status_code == 403


def test_switching_back_returns_to_the_first_org(pat, keys, org, other_org):
    pat.post(SWITCH, {"org": str(other_org.pk)})
    pat.post(SWITCH, {"org": str(org.pk)})

    page = _keys_page(pat)
    assert keys["acme"].preview in page
    assert keys["globex"].preview not in page


def test_switch_keeps_the_section_not_the_object(pat, keys, other_org):
    detail = reverse("keys:detail", args=[keys["acme"].pk])

    response = pat.post(SWITCH, {"org": str(other_org.pk), "next": detail})

    assert response.url == KEYS


def test_switch_ignores_a_next_on_another_site(pat, other_org):
    response = pat.post(SWITCH, {"org": str(other_org.pk), "next": "https://evil.example/keys/"})

    assert response.url == "/"


def test_switching_to_an_org_the_person_is_not_in_is_refused(pat, keys, org, stranger_org):
    response = pat.post(SWITCH, {"org": str(stranger_org.pk), "next": KEYS}, follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "You are not a member of that organisation." in page
    assert pat.session[SESSION_ORG_KEY] == str(org.pk)
    assert keys["acme"].preview in page
    assert "initech-tps" not in page


@pytest.mark.parametrize("value", ["", "not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_switching_to_no_org_or_a_malformed_one_is_refused(pat, org, value):
    response = pat.post(SWITCH, {"org": value, "next": KEYS}, follow=True)

    assert response.status_code == 200
    assert "You are not a member of that organisation." in response.content.decode()
    assert pat.session[SESSION_ORG_KEY] == str(org.pk)


def test_switch_refuses_get(pat, other_org):
    response = pat.get(SWITCH, {"org": str(other_org.pk)})

    assert response.status_code == 405


def test_an_org_someone_else_belongs_to_is_never_visible(pat, org, other_org, stranger_org):
    stranger_key = stranger_org.keys.get()

    for path in (KEYS, reverse("teams"), reverse("members"), reverse("audit:list")):
        page = pat.get(path).content.decode()
        assert "Initech" not in page, path
        assert stranger_key.preview not in page, path
    assert pat.get(reverse("keys:detail", args=[stranger_key.pk])).status_code == 404


def test_switcher_offers_the_persons_orgs_only(pat, stranger_org):
    page = _keys_page(pat)

    assert 'name="org"' in page
    assert ">Acme</option>" in page
    assert ">Globex</option>" in page
    assert "Initech" not in page


def test_a_stale_org_in_the_session_falls_back_to_one_of_the_persons_orgs(pat, keys, stranger_org):
    session = pat.session
    session[SESSION_ORG_KEY] = str(stranger_org.pk)
    session.save()

    page = _keys_page(pat)

    assert "initech-tps" not in page
    assert keys["acme"].preview in page or keys["globex"].preview in page
