"""What a stolen session cannot do: gain a step-up by enrolling its own factor or by changing
the password, guess the current password without limit, act on a factor it never proved,
revive a session that was ended, or make session rows from made-up cookies."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from user_sessions.models import Session

from accounts import invitations, two_factor
from accounts.models import Invitation
from audit import Actor
from audit.models import AuditEvent
from gateway_console import step_up
from gateway_console.models import AdminToken, Membership, Role, User
from tests.accounts.conftest import enrol, stale_step_up, totp_code, verify_session
from tests.factories import PASSWORD, MembershipFactory, TeamFactory
from tests.threads import run_writers

pytestmark = pytest.mark.django_db


def test_enrolling_a_factor_needs_a_fresh_step_up_and_gives_none(admin_client, admin_membership):
    stale_step_up(admin_client)

    response = admin_client.get("/account/two-factor/")

    assert response["Location"].startswith("/account/step-up/")
    assert not TOTPDevice.objects.filter(user=admin_membership.user).exists()
    # With a fresh step-up (their password), they enrol; the enrolment itself gives none.
    admin_client.post("/account/step-up/", {"password": PASSWORD, "next": "/"})
    admin_client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=admin_membership.user)
    stale_step_up(admin_client)
    session = admin_client.session
    session[step_up.SESSION_KEY] = 0
    session.save()
    admin_client.post("/account/two-factor/", {"code": totp_code(device)})
    assert admin_client.post("/admin-tokens/new/", {"name": "x"}).status_code == 302
    assert not AdminToken.objects.exists()


def test_each_session_enrols_its_own_secret(admin_membership):
    first, second = Client(), Client()
    for client in (first, second):
        client.force_login(admin_membership.user)

    one = first.get("/account/two-factor/").context["secret"]
    other = second.get("/account/two-factor/").context["secret"]

    assert one != other
    assert first.get("/account/two-factor/").context["secret"] == one


def test_changing_the_password_is_no_step_up_for_a_person_with_two_factor(
    admin_client, admin_membership
):
    device, _ = enrol(admin_membership.user)
    verify_session(admin_client, device)
    stale_step_up(admin_client)

    admin_client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "x-new-passphrase-9",
            "new_password2": "x-new-passphrase-9",
        },
    )
    response = admin_client.post("/account/two-factor/remove/")

    assert response["Location"].startswith("/account/step-up/")
    assert two_factor.has_two_factor(admin_membership.user)


def test_wrong_current_passwords_count_towards_the_sign_in_limits(
    admin_client, admin_membership, org
):
    for _ in range(5):
        admin_client.post(
            "/account/password/",
            {
                "old_password": "guess",
                "new_password1": "x-new-passphrase-9",
                "new_password2": "x-new-passphrase-9",
            },
        )

    right = admin_client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "x-new-passphrase-9",
            "new_password2": "x-new-passphrase-9",
        },
    )

    assert right.status_code == 429  # locked out: the right one is refused too
    admin_membership.user.refresh_from_db()
    assert admin_membership.user.check_password(PASSWORD)
    assert AuditEvent.objects.filter(org=org, action="user.sign_in_failed").count() == 4
    assert AuditEvent.objects.filter(org=org, action="user.locked_out").count() == 1


def test_a_session_that_never_proved_the_factor_cannot_remove_it(admin_membership):
    password_only = Client()
    password_only.post("/sign-in/", {"username": "admin@example.com", "password": PASSWORD})
    enrol(admin_membership.user)  # in another session

    response = password_only.post("/account/two-factor/remove/")

    assert response["Location"] == "/account/two-factor/"
    assert two_factor.has_two_factor(admin_membership.user)
    assert password_only.post("/account/two-factor/recovery-codes/")["Location"] == (
        "/account/two-factor/"
    )


def test_an_ended_session_does_not_come_back_from_a_request_in_flight(admin_membership):
    client = Client()
    client.force_login(admin_membership.user)
    store = client.session  # what a request in flight holds, loaded
    assert store[SESSION_KEY] == str(admin_membership.user.pk)
    Session.objects.filter(user=admin_membership.user).delete()  # signed out elsewhere

    store["last_seen"] = 1.0
    with pytest.raises(Exception) as raised:
        store.save()

    assert type(raised.value).__name__ == "UpdateError"
    assert not Session.objects.filter(user=admin_membership.user).exists()


def test_removing_yourself_signs_you_out(admin_client, admin_membership, org, other_org):
    MembershipFactory(org=other_org, role=Role.ADMIN, user=admin_membership.user)

    admin_client.post(f"/members/{admin_membership.pk}/remove/")

    assert SESSION_KEY not in admin_client.session
    assert admin_client.get("/keys/").status_code == 302
    assert not Session.objects.filter(user=admin_membership.user).exists()


def test_a_made_up_session_cookie_makes_no_session_row(client, db):
    client.cookies["sessionid"] = "made-up-key-that-names-no-session"

    for _ in range(3):
        client.get("/sign-in/")

    assert Session.objects.count() == 0


def test_throttled_codes_are_not_checked_or_recorded(client, admin_membership, org):
    enrol(admin_membership.user)
    client.post("/sign-in/", {"username": "admin@example.com", "password": PASSWORD})
    client.post("/sign-in/code/", {"code": "000000"})

    for _ in range(5):
        response = client.post("/sign-in/code/", {"code": "000000"})

    assert "wait" in response.context["form"].errors["code"][0]
    assert AuditEvent.objects.filter(org=org, action="user.sign_in_failed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_people_accepting_one_invitation_at_once_never_error(org, owner_membership, mailoutbox):
    invitation = invitations.invite(
        org=org,
        email="new@example.com",
        role=Role.MEMBER,
        actor=Actor.system("tests"),
        acting_role=Role.OWNER,
        base_url="http://testserver/",
    )

    results = []

    def accept(_n):
        try:
            invitations.accept_as_new_person(
                invitation=invitation,
                name="",
                password="a-long-passphrase-1",
                actor_for=lambda user: Actor.system("tests"),
            )
        except invitations.InvitationRefused:
            results.append("refused")
        else:
            results.append("joined")

    assert run_writers(2, accept) == []
    assert sorted(results) == ["joined", "refused"]
    assert User.objects.filter(email="new@example.com").count() == 1
    assert Membership.objects.filter(org=org, user__email="new@example.com").count() == 1


def test_a_patch_of_role_and_a_foreign_team_changes_nothing(api, org, other_org):
    bob = MembershipFactory(org=org, role=Role.MEMBER)
    foreign = TeamFactory(org=other_org)

    response = api.patch(
        f"/api/v1/members/{bob.pk}", {"role": "auditor", "teams": [str(foreign.pk)]}
    )

    assert response.status_code == 422
    bob.refresh_from_db()
    assert bob.role == Role.MEMBER
    assert not AuditEvent.objects.filter(org=org, action="member.role_changed").exists()


def test_a_token_cannot_change_an_owners_teams(api, owner_membership, team):
    response = api.patch(f"/api/v1/members/{owner_membership.pk}", {"teams": [str(team.pk)]})

    assert response.status_code == 403
    assert not owner_membership.teams.exists()


def test_an_admin_cannot_resend_or_withdraw_an_owners_invitation(admin_client, org):
    invitation = Invitation.objects.create(
        org=org,
        email="boss@example.com",
        role=Role.OWNER,
        expires_at=timezone.now() + timezone.timedelta(days=7),
    )

    admin_client.post(f"/members/invitations/{invitation.pk}/revoke/")

    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_a_signed_in_person_who_is_not_staff_is_refused_by_django_admin(admin_client):
    response = admin_client.get("/admin/login/?next=/admin/")

    assert response.status_code == 403


def test_the_admin_api_is_not_sent_to_enrolment_by_a_session_cookie(api, org, admin_membership):
    org.require_two_factor = True
    org.save()
    api.force_login(admin_membership.user)

    assert api.get("/api/v1/members").status_code == 200


def test_changing_the_org_requirement_needs_a_step_up(owner_client, org):
    # The org does not require two-factor yet, so only the step-up can stop this.
    stale_step_up(owner_client)

    response = owner_client.post("/members/security/", {"require_two_factor": "on"})

    assert response["Location"].startswith("/account/step-up/")
    org.refresh_from_db()
    assert org.require_two_factor is False
