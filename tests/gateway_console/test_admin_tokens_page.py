"""The console's Admin tokens page: owners and admins create (show-once, no-store, a reload
creates nothing) and revoke (after a confirmation page); auditors see the list; members get
403; another org's token is a 404."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from gateway_console import admin_tokens
from gateway_console.models import AdminToken
from tests.support.api import events, make_token

pytestmark = pytest.mark.django_db

LIST = reverse("admin-tokens")
NEW = reverse("admin-token-new")


def _revoke_url(token) -> str:
    return reverse("admin-token-revoke", args=[token.pk])


def _plaintext_from(response) -> str:
    match = re.search(r'<code id="plaintext" data-secret>([^<]+)</code>', response.content.decode())
    assert match, "the page shows no token"
    return match.group(1)


@pytest.mark.parametrize("role", ["owner", "admin", "auditor"])
def test_owners_admins_and_auditors_see_the_list(request, org, role):
    token, _ = make_token(org, name="nightly-report", read_only=True)
    client = request.getfixturevalue(f"{role}_client")

    response = client.get(LIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert "nightly-report" in html
    assert token.preview in html
    assert "Read-only" in html
    assert (NEW in html) == (role != "auditor")
    assert (_revoke_url(token) in html) == (role != "auditor")


def test_the_nav_links_to_the_page_for_those_who_may_see_it(
    admin_client, auditor_client, member_client
):
    assert LIST in admin_client.get(reverse("keys:list")).content.decode()
    assert LIST in auditor_client.get(reverse("keys:list")).content.decode()
    assert LIST not in member_client.get(reverse("keys:list")).content.decode()


def test_a_member_gets_403_everywhere(member_client, org):
    token, _ = make_token(org)

    assert member_client.get(LIST).status_code == 403
    assert member_client.get(NEW).status_code == 403
    assert member_client.post(NEW, {"name": "mine"}).status_code == 403
    assert member_client.post(_revoke_url(token)).status_code == 403
    assert AdminToken.objects.count() == 1
    assert AdminToken.objects.get(pk=token.pk).revoked_at is None


def test_an_auditor_can_neither_create_nor_revoke(auditor_client, org):
    token, _ = make_token(org)

    assert auditor_client.get(NEW).status_code == 403
    assert auditor_client.post(NEW, {"name": "mine"}).status_code == 403
    assert auditor_client.get(_revoke_url(token)).status_code == 403
    assert auditor_client.post(_revoke_url(token)).status_code == 403
    assert AdminToken.objects.count() == 1
    assert AdminToken.objects.get(pk=token.pk).revoked_at is None


def test_signed_out_visitors_are_sent_to_sign_in():
    response = Client().get(LIST)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("sign-in"))


def test_an_admin_creates_a_token_shown_once_with_no_store(admin_client, org, admin_membership):
    form = admin_client.get(NEW)
    response = admin_client.post(
        NEW, {"name": "terraform", "read_only": "on", "nonce": form.context["nonce"]}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    plaintext = _plaintext_from(response)
    token = AdminToken.objects.get(org=org)
    assert admin_tokens.active_token(plaintext) == token
    assert (token.name, token.read_only, token.created_by) == (
        "terraform",
        True,
        admin_membership.user,
    )
    (event,) = events(org, "admin_token.created")
    assert (event.actor_type, event.actor_label) == ("user", "admin@example.com")


def test_the_token_works_on_the_api(owner_client, org, key):
    response = owner_client.post(NEW, {"name": "ci", "nonce": "n-1"})
    plaintext = _plaintext_from(response)

    api = Client(headers={"Authorization": f"Bearer {plaintext}"})

    assert api.get("/api/v1/keys").json()["data"][0]["id"] == str(key.pk)
    assert api.post(f"/api/v1/keys/{key.pk}/disable").status_code == 200


def test_a_reload_of_the_show_once_page_creates_and_shows_nothing(admin_client, org):
    first = admin_client.post(NEW, {"name": "terraform", "nonce": "same-nonce"})
    plaintext = _plaintext_from(first)

    again = admin_client.post(NEW, {"name": "terraform", "nonce": "same-nonce"}, follow=True)

    assert again.redirect_chain[-1][0] == LIST
    assert plaintext not in again.content.decode()
    assert "already shown once" in again.content.decode()
    assert AdminToken.objects.count() == 1
    assert len(events(org, "admin_token.created")) == 1


def test_a_token_needs_a_name(admin_client, org):
    response = admin_client.post(NEW, {"name": "   ", "nonce": "n"})

    assert response.status_code == 200
    assert "Give the token a name." in response.content.decode()
    assert not AdminToken.objects.exists()


def test_revoking_asks_first_then_revokes(admin_client, org):
    token, plaintext = make_token(org, name="terraform")

    confirm = admin_client.get(_revoke_url(token))

    assert confirm.status_code == 200
    assert "stops working immediately" in confirm.content.decode()
    assert token.preview in confirm.content.decode()
    assert AdminToken.objects.get(pk=token.pk).revoked_at is None

    done = admin_client.post(_revoke_url(token), follow=True)

    assert done.redirect_chain[-1][0] == LIST
    assert AdminToken.objects.get(pk=token.pk).revoked_at is not None
    assert admin_tokens.active_token(plaintext) is None
    (event,) = events(org, "admin_token.revoked")
    assert event.actor_label == "admin@example.com"


def test_revoking_twice_writes_one_event(admin_client, org):
    token, _ = make_token(org)

    admin_client.post(_revoke_url(token))
    response = admin_client.post(_revoke_url(token), follow=True)

    assert "already revoked" in response.content.decode()
    assert len(events(org, "admin_token.revoked")) == 1


def test_another_orgs_token_is_a_404(other_org_admin_client, org):
    token, _ = make_token(org)

    assert other_org_admin_client.get(_revoke_url(token)).status_code == 404
    assert other_org_admin_client.post(_revoke_url(token)).status_code == 404
    assert token.preview not in other_org_admin_client.get(LIST).content.decode()
    assert AdminToken.objects.get(pk=token.pk).revoked_at is None


def test_the_list_costs_a_fixed_number_of_queries(admin_client, org, django_assert_max_num_queries):
    for n in range(10):
        make_token(org, name=f"t{n}")

    with django_assert_max_num_queries(8):
        response = admin_client.get(LIST)

    assert response.content.decode().count("<tr") == 11
