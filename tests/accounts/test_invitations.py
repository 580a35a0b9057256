"""Invitations: a signed link that works once, for 7 days, in its newest version only; accepting
creates the account or adds an existing one; resend and withdraw."""

import re
import smtplib
from urllib.parse import quote

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.core.mail.backends import locmem
from django.utils import timezone

from accounts.models import Invitation
from audit.models import AuditEvent
from gateway_console.models import Membership, Role, User
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-new-passphrase-42"


def _link(mail) -> str:
    match = re.search(r"http://testserver(/invitations/[^/\s]+/)", mail.body)
    assert match, mail.body
    return match.group(1)


def _invite(client, email="new@example.com", role="member", teams=()):
    return client.post(
        "/members/invite/", {"email": email, "role": role, "teams": [str(t.pk) for t in teams]}
    )


def test_an_admin_invites_by_email(admin_client, org, team, mailoutbox):
    response = _invite(admin_client, "New@Example.com", teams=[team])

    assert response["Location"] == "/members/"
    invitation = Invitation.objects.get()
    assert invitation.email == "new@example.com"
    assert list(invitation.teams.all()) == [team]
    [mail] = mailoutbox
    assert mail.to == ["new@example.com"]
    assert "Acme" in mail.subject
    assert _link(mail)
    event = AuditEvent.objects.get(org=org, action="member.invited")
    assert event.data == {"email": "new@example.com", "role": "member", "teams": ["Search"]}
    assert "new@example.com" in admin_client.get("/members/").content.decode()


def test_a_new_person_accepts_sets_a_password_and_is_signed_in(
    client, admin_client, org, team, mailoutbox
):
    _invite(admin_client, teams=[team])
    link = _link(mailoutbox[0])

    page = client.get(link)
    assert page.status_code == 200
    assert "Join Acme" in page.content.decode()
    response = client.post(
        link, {"name": "Nia", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert response["Location"] == "/"
    user = User.objects.get(email="new@example.com")
    assert user.name == "Nia" and user.check_password(NEW_PASSWORD)
    membership = Membership.objects.get(user=user, org=org)
    assert membership.role == Role.MEMBER
    assert list(membership.teams.all()) == [team]
    assert client.session[SESSION_KEY] == str(user.pk)
    assert Invitation.objects.get().accepted_by == user
    assert AuditEvent.objects.filter(org=org, action="member.joined").count() == 1


def test_a_weak_or_mismatched_password_is_refused_beside_the_field(
    client, admin_client, mailoutbox
):
    _invite(admin_client)
    link = _link(mailoutbox[0])

    weak = client.post(link, {"password1": "short", "password2": "short"})
    differ = client.post(link, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"})

    assert "password1" in weak.context["form"].errors
    assert "password2" in differ.context["form"].errors
    assert not User.objects.filter(email="new@example.com").exists()


def test_the_link_works_once(client, admin_client, mailoutbox):
    _invite(admin_client)
    link = _link(mailoutbox[0])
    client.post(link, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    client.logout()

    again = client.get(link)

    assert again.status_code == 410
    assert "already used" in again.content.decode()


def test_the_link_expires_after_seven_days(client, admin_client, mailoutbox):
    _invite(admin_client)
    link = _link(mailoutbox[0])

    with time_machine.travel(timezone.now() + timezone.timedelta(days=7, minutes=1)):
        response = client.get(link)

    assert response.status_code == 410
    assert "expired" in response.content.decode()


def test_a_tampered_link_is_refused(client):
    assert client.get("/invitations/not-a-signed-token/").status_code == 410


def test_resending_makes_the_old_link_stop_working(client, admin_client, org, mailoutbox):
    _invite(admin_client)
    old = _link(mailoutbox[0])
    invitation = Invitation.objects.get()

    admin_client.post(f"/members/invitations/{invitation.pk}/resend/")

    assert len(mailoutbox) == 2
    new = _link(mailoutbox[1])
    assert new != old
    assert "sent again" in client.get(old).content.decode()
    assert client.get(new).status_code == 200
    assert AuditEvent.objects.filter(org=org, action="invitation.resent").count() == 1


def test_withdrawing_ends_the_link(client, admin_client, org, mailoutbox):
    _invite(admin_client)
    link = _link(mailoutbox[0])
    invitation = Invitation.objects.get()
    assert (
        "Withdraw the invitation"
        in admin_client.get(f"/members/invitations/{invitation.pk}/revoke/").content.decode()
    )

    admin_client.post(f"/members/invitations/{invitation.pk}/revoke/")

    assert client.get(link).status_code == 410
    assert AuditEvent.objects.filter(org=org, action="invitation.revoked").count() == 1


def test_an_existing_account_signs_in_then_joins(client, admin_client, org, other_org, mailoutbox):
    existing = MembershipFactory(org=other_org, role=Role.ADMIN, user__email="known@example.com")
    _invite(admin_client, "known@example.com", role="auditor")
    link = _link(mailoutbox[0])

    to_sign_in = client.get(link)["Location"]
    assert to_sign_in == f"/sign-in/?next={quote(link, safe='/')}"
    client.post(to_sign_in, {"username": "known@example.com", "password": PASSWORD})
    page = client.get(link)
    assert "Join Acme" in page.content.decode()
    client.post(link)

    joined = Membership.objects.get(org=org, user=existing.user)
    assert joined.role == Role.AUDITOR


def test_someone_else_signed_in_cannot_take_the_invitation(client, admin_client, org, mailoutbox):
    UserFactory(email="known@example.com")
    _invite(admin_client, "known@example.com")
    link = _link(mailoutbox[0])
    intruder = UserFactory(email="intruder@example.com")
    client.force_login(intruder)

    client.post(link)

    assert not Membership.objects.filter(org=org, user__email="known@example.com").exists()
    assert not Membership.objects.filter(org=org, user=intruder).exists()


def test_only_an_owner_invites_an_owner(admin_client, owner_client, mailoutbox):
    refused = _invite(admin_client, role="owner")
    assert refused.status_code == 200
    assert "role" in refused.context["form"].errors

    _invite(owner_client, role="owner")
    assert Invitation.objects.get().role == Role.OWNER


def test_a_member_or_an_open_invitation_is_not_invited_twice(
    admin_client, admin_membership, mailoutbox
):
    member = _invite(admin_client, "admin@example.com")
    assert "already a member" in member.content.decode()
    _invite(admin_client)
    again = _invite(admin_client)
    assert "already has an open invitation" in again.content.decode()
    assert Invitation.objects.count() == 1


def test_when_the_email_cannot_be_sent_nothing_is_kept(admin_client, org, monkeypatch, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there

    response = _invite(admin_client)

    assert response.status_code == 200
    assert "could not be sent" in response.content.decode()
    assert not Invitation.objects.exists()
    assert not AuditEvent.objects.filter(org=org, action="member.invited").exists()


def test_members_and_auditors_cannot_invite(member_client, auditor_client):
    assert _invite(member_client).status_code == 403
    assert _invite(auditor_client).status_code == 403
    assert not Invitation.objects.exists()


def test_when_the_mail_server_refuses_the_address_nothing_is_kept(admin_client, org, monkeypatch):
    """An SMTP refusal, not only a connection that fails (the service catches OSError, which
    smtplib's errors are)."""

    def refuse(self, messages):
        raise smtplib.SMTPRecipientsRefused({"new@example.com": (550, b"No such user")})

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", refuse)

    response = _invite(admin_client)

    assert response.status_code == 200
    assert "could not be sent" in response.content.decode()
    assert not Invitation.objects.exists()
    assert not AuditEvent.objects.filter(org=org, action="member.invited").exists()
