"""Admin tokens expire (docs/contract.md section 4): the lifetime is chosen at creation, 1 to 365
days, 90 by default, on the console's form, in the admin API and with the command; an expired
token is refused by the API like a revoked one; the tokens page and the API show each token's
expiry, last use and creator."""

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit import Actor
from gateway_console import admin_tokens
from gateway_console.admin_tokens import AdminTokenActionRefused, create_admin_token
from gateway_console.forms import AdminTokenForm
from gateway_console.models import AdminToken, User
from tests.support.api import ApiClient, admin_token_pattern, error_of, events, make_token

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
LIST = reverse("admin-tokens")
NEW = reverse("admin-token-new")
API = "/api/v1/admin-tokens"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _user_actor(membership) -> Actor:
    return Actor(type="user", id=str(membership.user.pk), label="", user=membership.user)


# The rule, in one place


def test_the_rule_is_90_days_by_default_and_1_to_365():
    rule = (admin_tokens.EXPIRY_MIN, admin_tokens.EXPIRY_DEFAULT, admin_tokens.EXPIRY_MAX)

    assert rule == (timedelta(days=1), timedelta(days=90), timedelta(days=365))


def test_the_service_makes_90_days_by_default_and_records_the_expiry(org, frozen):
    token, _ = create_admin_token(org=org, actor=Actor.system(), name="ci", read_only=False)

    assert token.expires_at == NOW + timedelta(days=90)
    (event,) = events(org, "admin_token.created")
    assert event.data == {
        "name": "ci",
        "preview": token.preview,
        "read_only": False,
        "expires_at": "2026-06-18T12:00:00+00:00",
    }


@pytest.mark.parametrize("days", [0, -1, 366, 10_000, True, "30", None])
def test_the_service_refuses_a_lifetime_out_of_range(org, days):
    with pytest.raises(AdminTokenActionRefused):
        create_admin_token(
            org=org, actor=Actor.system(), name="ci", read_only=False, expires_in_days=days
        )

    assert not AdminToken.objects.exists()


# The console's form and page


def test_the_form_offers_90_days_and_takes_an_empty_field_as_90():
    assert AdminTokenForm().fields["expires_in_days"].initial == 90
    form = AdminTokenForm({"name": "ci", "expires_in_days": ""})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["expires_in_days"] == 90


@pytest.mark.parametrize("days", ["0", "366", "-5", "2.5", "soon"])
def test_the_form_refuses_a_lifetime_out_of_range_on_its_field(days):
    form = AdminTokenForm({"name": "ci", "expires_in_days": days})

    assert not form.is_valid()
    assert list(form.errors) == ["expires_in_days"]


@pytest.mark.parametrize("days", ["1", "365"])
def test_the_form_takes_the_bounds(days):
    form = AdminTokenForm({"name": "ci", "expires_in_days": days})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["expires_in_days"] == int(days)


def test_the_new_token_page_has_the_field_with_90(admin_client):
    html = admin_client.get(NEW).content.decode()

    assert re.search(r'<input type="number" name="expires_in_days" value="90"[^>]*>', html)
    assert "Expires in (days)" in html


@pytest.mark.parametrize("days", ["0", "366"])
def test_the_page_shows_the_error_beside_the_field_and_makes_nothing(admin_client, days):
    response = admin_client.post(NEW, {"name": "ci", "expires_in_days": days, "nonce": "n-1"})

    assert response.status_code == 200
    html = response.content.decode()
    field = re.search(
        r'<div class="field has-error" id="field-expires_in_days">.*?</div>', html, re.S
    )
    assert field, "no error on the field"
    assert "Choose from 1 to 365 days" in field.group(0)
    assert not AdminToken.objects.exists()
    assert admin_token_pattern().search(html) is None


def test_the_page_creates_a_token_for_365_days(admin_client, org, frozen):
    response = admin_client.post(NEW, {"name": "yearly", "expires_in_days": "365", "nonce": "n"})

    assert response.status_code == 200
    assert admin_token_pattern().search(response.content.decode())
    token = AdminToken.objects.get()
    assert token.expires_at == NOW + timedelta(days=365)
    (event,) = events(org, "admin_token.created")
    assert event.data["expires_at"] == "2027-03-20T12:00:00+00:00"


def test_the_page_creates_a_token_for_90_days_when_not_chosen(admin_client, frozen):
    admin_client.post(NEW, {"name": "ci", "nonce": "n"})

    assert AdminToken.objects.get().expires_at == NOW + timedelta(days=90)


# The tokens page


def test_the_list_shows_expiry_last_use_and_creator(admin_client, org, admin_membership, frozen):
    used = create_admin_token(
        org=org, actor=_user_actor(admin_membership), name="used", read_only=False
    )[0]
    AdminToken.objects.filter(pk=used.pk).update(last_used_at=NOW - timedelta(hours=2))
    create_admin_token(
        org=org, actor=Actor.system(), name="unused", read_only=True, expires_in_days=1
    )
    expired = make_token(org, name="old")[0]
    AdminToken.objects.filter(pk=expired.pk).update(expires_at=NOW - timedelta(days=1))

    html = admin_client.get(LIST).content.decode()

    rows = {name: _row(html, name) for name in ("used", "unused", "old")}
    assert "admin@example.com" in rows["used"]
    assert "2026-03-20 10:00" in rows["used"]  # last use
    assert "2026-06-18" in rows["used"] and "expires in 90 days" in rows["used"]
    assert "Active" in rows["used"]
    assert "—" in rows["unused"] and "never" in rows["unused"]
    assert "2026-03-21" in rows["unused"] and "expires in 1 day<" in rows["unused"]
    assert "2026-03-19" in rows["old"] and "expired" in rows["old"]
    assert 'badge-expired">Expired' in rows["old"]
    assert "Active" not in rows["old"]


def test_a_token_whose_creator_was_removed_shows_a_dash(admin_client, org, member_membership):
    token = create_admin_token(
        org=org, actor=_user_actor(member_membership), name="orphan", read_only=False
    )[0]
    User.objects.filter(pk=member_membership.user.pk).delete()

    row = _row(admin_client.get(LIST).content.decode(), "orphan")

    assert AdminToken.objects.get(pk=token.pk).created_by is None
    assert "member@example.com" not in row
    assert "—" in row


def test_a_revoked_token_shows_revoked_past_its_expiry(admin_client, org):
    token = make_token(org, name="gone")[0]
    admin_tokens.revoke_admin_token(token=token, actor=Actor.system())
    AdminToken.objects.filter(pk=token.pk).update(expires_at=token.created_at)

    row = _row(admin_client.get(LIST).content.decode(), "gone")

    assert "Revoked" in row
    assert "Expired" not in row


def _row(html: str, name: str) -> str:
    match = re.search(rf"<tr[^>]*>\s*<td>{name}</td>.*?</tr>", html, re.DOTALL)
    assert match, f"no row for {name}"
    return match.group(0)


# The admin API


def test_a_token_cannot_make_tokens(api, org):
    # A token that could mint tokens would outlive its own expiry: tokens are made on the
    # console's page, by a person who has stepped up.
    response = api.post(API, {"name": "deploy"})

    assert response.status_code == 405
    assert AdminToken.objects.filter(org=org).count() == 1


def test_the_api_lists_and_reads_tokens_with_expiry_last_use_and_creator(
    api, org, admin_token, admin_membership, other_org, frozen
):
    mine = create_admin_token(
        org=org, actor=_user_actor(admin_membership), name="by-admin", read_only=True
    )[0]
    make_token(other_org, name="theirs")

    listed = api.get(API)
    one = api.get(f"{API}/{mine.pk}")

    assert listed.status_code == 200
    rows = {row["name"]: row for row in listed.json()["data"]}
    assert set(rows) == {"terraform", "by-admin"}  # not the other org's
    assert rows["by-admin"]["created_by"] == "admin@example.com"
    assert rows["by-admin"]["expires_at"] == "2026-06-18T12:00:00Z"
    assert rows["by-admin"]["last_used_at"] is None
    # The listing token itself was just used.
    assert rows["terraform"]["last_used_at"] == "2026-03-20T12:00:00Z"
    assert one.status_code == 200
    assert one.json() == rows["by-admin"]
    assert "token" not in one.json()
    assert set(one.json()) == {
        "id",
        "name",
        "preview",
        "read_only",
        "status",
        "created_at",
        "created_by",
        "expires_at",
        "last_used_at",
        "revoked_at",
    }


def test_another_orgs_token_is_a_404(api, other_org):
    theirs = make_token(other_org, name="theirs")[0]

    response = api.get(f"{API}/{theirs.pk}")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


# An expired token is refused like a revoked one


def test_an_expired_token_is_refused_like_a_revoked_one(org):
    with time_machine.travel(NOW, tick=False):
        expiring, expiring_secret = make_token(org, name="expiring")
        revoked, revoked_secret = make_token(org, name="revoked")
        admin_tokens.revoke_admin_token(token=revoked, actor=Actor.system())
        assert ApiClient(expiring_secret).get("/api/v1/keys").status_code == 200
    used_at = AdminToken.objects.get(pk=expiring.pk).last_used_at

    # Still good a moment before, refused from its expiry on.
    with time_machine.travel(expiring.expires_at - timedelta(seconds=1), tick=False):
        assert ApiClient(expiring_secret).get("/api/v1/keys").status_code == 200
    with time_machine.travel(expiring.expires_at, tick=False):
        expired = ApiClient(expiring_secret).get("/api/v1/keys")
        refused = ApiClient(revoked_secret).get("/api/v1/keys")

    assert expired.status_code == refused.status_code == 401
    assert error_of(expired)["code"] == error_of(refused)["code"] == "invalid_admin_token"
    assert error_of(expired)["type"] == error_of(refused)["type"]
    assert expired["WWW-Authenticate"] == refused["WWW-Authenticate"]
    assert "expired at 2026-06-18 12:00 UTC" in error_of(expired)["message"]
    # A refused call is no use: the last use stays the one before the expiry.
    assert used_at is not None
    assert AdminToken.objects.get(pk=expiring.pk).last_used_at <= expiring.expires_at


def test_an_expired_token_cannot_change_anything(org):
    token, plaintext = make_token(org, name="old")
    AdminToken.objects.filter(pk=token.pk).update(
        expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )

    response = ApiClient(plaintext).post("/api/v1/teams", {"name": "Renewed"})

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_admin_token"
    assert AdminToken.objects.count() == 1
    assert AdminToken.objects.get().status == "expired"


# The command


def test_the_command_takes_a_lifetime(org, frozen):
    out, err = StringIO(), StringIO()

    call_command(
        "create_admin_token",
        "--org",
        "acme",
        "--name",
        "cron",
        "--expires-in-days",
        "7",
        stdout=out,
        stderr=err,
    )

    assert AdminToken.objects.get().expires_at == NOW + timedelta(days=7)
    assert "expiring 2026-03-27 12:00 UTC" in err.getvalue()


def test_the_command_refuses_a_lifetime_out_of_range(org):
    with pytest.raises(CommandError, match="1 to 365 days"):
        call_command(
            "create_admin_token",
            "--org",
            "acme",
            "--name",
            "cron",
            "--expires-in-days",
            "400",
            stdout=StringIO(),
            stderr=StringIO(),
        )

    assert not AdminToken.objects.exists()
