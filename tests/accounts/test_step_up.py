"""Step-up: every sensitive action is refused without a sign-in or a code within the last
STEP_UP_MINUTES (the person is sent to prove themselves, nothing happens), and allowed with one.
After the step-up the person is back on the filled-in confirmation page; no POST is replayed."""

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth import SESSION_KEY

from accounts import two_factor
from audit import Actor
from audit.models import AuditEvent
from billing.alerts.models import AlertSettings
from gateway_console import step_up
from gateway_console.admin_tokens import create_admin_token
from gateway_console.models import AdminToken, Membership, Role
from keys.models import Key, KeyStatus
from tests.accounts.conftest import enrol, stale_step_up, totp_code
from tests.factories import PASSWORD, MembershipFactory, make_key

pytestmark = pytest.mark.django_db

WEBHOOK = "https://hooks.example.com/console"


@dataclass
class Action:
    name: str
    url: str
    data: dict
    happened: Any  # () -> bool


def _actions(org, key, owner_client, key_form) -> list[Action]:
    member = MembershipFactory(org=org, role=Role.MEMBER, user__email="bob@example.com")
    other_key = Key.objects.exclude(pk=key.pk).first()
    token, _ = create_admin_token(
        org=org, actor=Actor.system("tests"), name="terraform", read_only=False
    )
    AlertSettings.objects.create(org=org, webhook_url="https://old.example.com/hook")
    return [
        Action(
            "create a key",
            "/keys/new/",
            key_form(name="fresh-key", nonce="n-create"),
            lambda: Key.objects.filter(name="fresh-key").exists(),
        ),
        Action(
            "rotate a key",
            f"/keys/{key.pk}/rotate/",
            {"grace_hours": "0", "nonce": "n-rotate"},
            lambda: AuditEvent.objects.filter(action="key.rotated").exists(),
        ),
        Action(
            "delete a key",
            f"/keys/{key.pk}/delete/",
            {},
            lambda: Key.objects.get(pk=key.pk).status == KeyStatus.DELETED,
        ),
        Action(
            "delete keys in a batch",
            "/keys/batch/",
            {"keys": [str(other_key.pk)], "action": "delete", "confirmed": "yes"},
            lambda: Key.objects.get(pk=other_key.pk).status == KeyStatus.DELETED,
        ),
        Action(
            "create an admin token",
            "/admin-tokens/new/",
            {"name": "deploys", "expires_in_days": "30", "nonce": "n-token"},
            lambda: AdminToken.objects.filter(name="deploys").exists(),
        ),
        Action(
            "revoke an admin token",
            f"/admin-tokens/{token.pk}/revoke/",
            {},
            lambda: AdminToken.objects.get(pk=token.pk).revoked_at is not None,
        ),
        Action(
            "change a role",
            f"/members/{member.pk}/role/",
            {"role": "auditor"},
            lambda: Membership.objects.get(pk=member.pk).role == Role.AUDITOR,
        ),
        Action(
            "remove a member",
            f"/members/{member.pk}/remove/",
            {},
            lambda: not Membership.objects.filter(pk=member.pk).exists(),
        ),
        Action(
            "change the alert webhook",
            "/billing/alerts/settings/",
            {"wallet_below": "", "email": "on", "webhook_url": WEBHOOK},
            lambda: AlertSettings.objects.get(org=org).webhook_url == WEBHOOK,
        ),
        Action(
            "regenerate the webhook secret",
            "/billing/alerts/settings/webhook-secret/",
            {},
            lambda: AuditEvent.objects.filter(action="alerts.updated").exists(),
        ),
    ]


ACTION_NAMES = [
    "create a key",
    "rotate a key",
    "delete a key",
    "delete keys in a batch",
    "create an admin token",
    "revoke an admin token",
    "change a role",
    "remove a member",
    "change the alert webhook",
    "regenerate the webhook secret",
]


@pytest.fixture
def actions(org, key, owner_client, key_form):
    make_key(org, name="second-key")
    return {action.name: action for action in _actions(org, key, owner_client, key_form)}


@pytest.mark.parametrize("name", ACTION_NAMES)
def test_each_sensitive_action_is_refused_without_a_fresh_step_up(owner_client, actions, name):
    action = actions[name]
    stale_step_up(owner_client)

    response = owner_client.post(action.url, action.data)

    assert response.status_code == 302
    assert response["Location"] == f"/account/step-up/?next={quote(action.url, safe='')}"
    assert not action.happened()


@pytest.mark.parametrize("name", ACTION_NAMES)
def test_each_sensitive_action_is_allowed_with_a_fresh_step_up(owner_client, actions, name):
    action = actions[name]
    stale_step_up(owner_client)
    assert (
        owner_client.post(
            "/account/step-up/", {"password": PASSWORD, "next": action.url}
        ).status_code
        == 302
    )

    owner_client.post(action.url, action.data)

    assert action.happened()


def test_a_fresh_sign_in_is_a_step_up(client, owner_membership, actions):
    client.post("/sign-in/", {"username": owner_membership.user.email, "password": PASSWORD})
    action = actions["create an admin token"]

    client.post(action.url, action.data)

    assert action.happened()


def test_after_the_step_up_the_form_is_filled_in_again_and_nothing_was_replayed(
    owner_client, key_form
):
    stale_step_up(owner_client)
    owner_client.post("/keys/new/", key_form(name="kept-name", rpm_limit="77", nonce="n1"))

    response = owner_client.post(
        "/account/step-up/", {"password": PASSWORD, "next": "/keys/new/"}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/keys/new/"
    form = response.context["form"]
    assert form["name"].value() == "kept-name"
    assert form["rpm_limit"].value() == "77"
    assert not Key.objects.filter(name="kept-name").exists()  # the person confirms again
    # The kept form is used once: a reload shows the empty form.
    assert owner_client.get("/keys/new/").context["form"]["name"].value() is None


def test_the_batch_confirmation_comes_back_after_the_step_up(owner_client, org):
    first, _ = make_key(org, name="one")
    stale_step_up(owner_client)
    owner_client.post("/keys/batch/", {"keys": [str(first.pk)], "action": "delete"})

    response = owner_client.post(
        "/account/step-up/", {"password": PASSWORD, "next": "/keys/batch/"}, follow=True
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "one" in body and 'name="confirmed"' in body
    assert Key.objects.get(pk=first.pk).status == KeyStatus.ACTIVE


def test_opening_a_sensitive_page_asks_for_the_step_up_first(owner_client):
    stale_step_up(owner_client)

    response = owner_client.get("/admin-tokens/new/")

    assert response["Location"] == "/account/step-up/?next=%2Fadmin-tokens%2Fnew%2F"


def test_an_htmx_request_is_sent_to_the_step_up_page_as_a_whole(owner_client, key):
    stale_step_up(owner_client)

    response = owner_client.get(f"/keys/{key.pk}/delete/?from=row", headers={"HX-Request": "true"})

    assert response["HX-Redirect"].startswith("/account/step-up/?next=")


def test_disabling_a_key_needs_no_step_up(owner_client, key):
    stale_step_up(owner_client)

    owner_client.post(f"/keys/{key.pk}/disable/")

    assert Key.objects.get(pk=key.pk).status == KeyStatus.DISABLED


def test_a_wrong_password_is_refused_beside_the_field_and_counts_as_a_failure(
    owner_client, owner_membership
):
    stale_step_up(owner_client)

    response = owner_client.post("/account/step-up/", {"password": "wrong", "next": "/"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"password": ["That password is not right."]}
    assert AuditEvent.objects.filter(action="user.sign_in_failed").count() == 1
    assert owner_client.post("/admin-tokens/new/", {"name": "x"}).status_code == 302
    assert not AdminToken.objects.exists()
    assert SESSION_KEY in owner_client.session  # still signed in


def test_a_person_with_two_factor_steps_up_with_a_code_not_a_password(
    owner_client, owner_membership
):
    device, _ = enrol(owner_membership.user)
    stale_step_up(owner_client)

    page = owner_client.get("/account/step-up/?next=/admin-tokens/new/")
    assert page.context["uses_code"] is True
    assert (
        owner_client.post("/account/step-up/", {"password": PASSWORD}).status_code == 200
    )  # a password alone does not do
    response = owner_client.post(
        "/account/step-up/",
        {"code": totp_code(device, steps_ahead=1), "next": "/admin-tokens/new/"},
    )

    assert response["Location"] == "/admin-tokens/new/"
    assert two_factor.has_two_factor(owner_membership.user)


def test_next_never_leaves_the_console(owner_client):
    stale_step_up(owner_client)

    response = owner_client.post(
        "/account/step-up/", {"password": PASSWORD, "next": "https://evil.example.com/"}
    )

    assert response["Location"] == "/"


def test_the_step_up_window_is_configurable(owner_client, settings, actions):
    settings.STEP_UP_MINUTES = 30
    session = owner_client.session
    session[step_up.SESSION_KEY] = time.time() - 20 * 60
    session.save()
    action = actions["create an admin token"]

    owner_client.post(action.url, action.data)

    assert action.happened()


def test_the_kept_form_never_holds_a_password_a_code_or_the_final_yes(owner_client, org):
    stale_step_up(owner_client)

    owner_client.post(
        "/keys/batch/",
        {
            "keys": ["k1"],
            "action": "delete",
            "confirmed": "yes",
            "password": "hunter2-hunter2",
            "code": "123456",
            "old_password": "older-secret",
        },
    )

    kept = dict(owner_client.session[step_up.RESUME_KEY]["data"])
    assert kept == {"keys": "k1", "action": "delete"}
