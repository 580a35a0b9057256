"""create_admin_token / revoke_admin_token: the `sk-admin-` format with its checksum, stored only
as its HMAC, one audit event each in the same transaction."""

import pytest

from audit import Actor
from gateway_console import admin_tokens, secret
from gateway_console.admin_tokens import (
    AdminTokenActionRefused,
    create_admin_token,
    revoke_admin_token,
)
from gateway_console.models import AdminToken
from tests.support.api import events

pytestmark = pytest.mark.django_db


def test_it_creates_a_token_in_the_key_format_with_its_own_prefix(org, admin_membership):
    token, plaintext = create_admin_token(
        org=org,
        actor=Actor(type="user", id="1", label="admin@example.com", user=admin_membership.user),
        name="terraform",
        read_only=True,
    )

    assert plaintext.startswith("sk-admin-")
    assert len(plaintext) == len("sk-admin-") + 46
    assert secret.is_well_formed(plaintext, prefix="sk-admin-")
    assert not secret.is_well_formed(plaintext)  # not a gateway key
    token = AdminToken.objects.get(pk=token.pk)
    assert token.token_hash == secret.secret_hash(plaintext)
    assert token.preview == f"{plaintext[:15]}…{plaintext[-4:]}"
    assert (token.name, token.read_only, token.created_by) == (
        "terraform",
        True,
        admin_membership.user,
    )
    (event,) = events(org, "admin_token.created")
    assert event.target_type == "admintoken"
    assert event.target_id == str(token.pk)
    assert event.data == {
        "name": "terraform",
        "preview": token.preview,
        "read_only": True,
        "expires_at": token.expires_at.isoformat(),
    }


def test_two_tokens_never_share_a_secret(org):
    plaintexts = {
        create_admin_token(org=org, actor=Actor.system(), name="t", read_only=False)[1]
        for _ in range(20)
    }

    assert len(plaintexts) == 20


@pytest.mark.parametrize("name", ["", "   ", "x" * 121])
def test_it_refuses_a_bad_name(org, name):
    with pytest.raises(AdminTokenActionRefused):
        create_admin_token(org=org, actor=Actor.system(), name=name, read_only=False)

    assert not AdminToken.objects.exists()
    assert events(org, "admin_token.created") == []


def test_a_nonce_makes_a_second_submission_create_nothing(org):
    token, _ = create_admin_token(
        org=org, actor=Actor.system(), name="t", read_only=False, nonce="n-1"
    )

    with pytest.raises(admin_tokens.TokenAlreadyShown) as shown:
        create_admin_token(org=org, actor=Actor.system(), name="t", read_only=False, nonce="n-1")

    assert shown.value.token == token
    assert AdminToken.objects.count() == 1
    assert len(events(org, "admin_token.created")) == 1


def test_revoking_stops_the_token_at_once_with_one_event(org):
    token, plaintext = create_admin_token(org=org, actor=Actor.system(), name="t", read_only=False)
    assert admin_tokens.active_token(plaintext) == token

    revoke_admin_token(token=token, actor=Actor.system())

    assert admin_tokens.active_token(plaintext) is None
    assert AdminToken.objects.get(pk=token.pk).revoked_at is not None
    (event,) = events(org, "admin_token.revoked")
    assert event.target_id == str(token.pk)


def test_a_revoked_token_cannot_be_revoked_again(org):
    token, _ = create_admin_token(org=org, actor=Actor.system(), name="t", read_only=False)
    revoke_admin_token(token=token, actor=Actor.system())

    with pytest.raises(AdminTokenActionRefused):
        revoke_admin_token(token=token, actor=Actor.system())

    assert len(events(org, "admin_token.revoked")) == 1
