"""TOTP with django-otp: enrolment with a QR code and a secret, confirmed by a code; ten
recovery codes shown once; sign-in with a code; the org's requirement for owners and admins;
removal only after a step-up, audited."""

import re

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import two_factor
from audit.models import AuditEvent
from gateway_console.models import Org, Role
from tests.accounts.conftest import enrol, stale_step_up, totp_code, verify_session
from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db


def _actions(org) -> list[str]:
    return list(AuditEvent.objects.filter(org=org).order_by("seq").values_list("action", flat=True))


def test_enrolment_shows_a_qr_code_and_the_secret_and_is_not_cached(admin_client, admin_membership):
    response = admin_client.get("/account/two-factor/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "<svg" in body
    device = TOTPDevice.objects.get(user=admin_membership.user, confirmed=False)
    assert two_factor.secret_text(device) in body
    assert "no-store" in response["Cache-Control"]
    # A reload shows the same secret: the QR code scanned first stays the one that works.
    assert (
        two_factor.secret_text(device) in admin_client.get("/account/two-factor/").content.decode()
    )
    assert TOTPDevice.objects.filter(user=admin_membership.user).count() == 1


def test_a_wrong_code_is_refused_beside_the_field_and_enrols_nothing(
    admin_client, admin_membership
):
    admin_client.get("/account/two-factor/")

    response = admin_client.post("/account/two-factor/", {"code": "000000"})

    assert response.status_code == 200
    assert "That code is not right" in response.context["form"].errors["code"][0]
    assert not two_factor.has_two_factor(admin_membership.user)


def test_the_right_code_turns_it_on_and_shows_ten_recovery_codes_once(
    admin_client, admin_membership, org
):
    admin_client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=admin_membership.user)

    response = admin_client.post("/account/two-factor/", {"code": totp_code(device)})

    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", response.content.decode())
    assert len(codes) == 10
    assert set(codes) == set(
        StaticToken.objects.filter(device__user=admin_membership.user).values_list(
            "token", flat=True
        )
    )
    assert "no-store" in response["Cache-Control"]
    assert two_factor.has_two_factor(admin_membership.user)
    assert _actions(org) == ["user.two_factor_enabled"]
    # The session is verified by the enrolment: the management page, not the codes again.
    page = admin_client.get("/account/two-factor/").content.decode()
    assert "10 of 10 left" in page
    assert codes[0] not in page


def test_signing_in_with_two_factor_asks_for_the_code(client, admin_membership, org):
    device, _ = enrol(admin_membership.user)

    first = client.post("/sign-in/", {"username": "admin@example.com", "password": PASSWORD})
    assert first["Location"] == "/sign-in/code/"
    assert SESSION_KEY not in client.session
    wrong = client.post("/sign-in/code/", {"code": "123456"})
    assert wrong.status_code == 200 and SESSION_KEY not in client.session
    # Each wrong code makes the next try wait (django-otp's throttling): 1 s after one.
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=2)):
        right = client.post("/sign-in/code/", {"code": totp_code(device, steps_ahead=1)})

    assert right.status_code == 302
    assert client.session[SESSION_KEY] == str(admin_membership.user.pk)
    assert client.get("/keys/").status_code == 200
    assert _actions(org)[-2:] == ["user.sign_in_failed", "user.signed_in"]
    signed_in = AuditEvent.objects.filter(org=org, action="user.signed_in").get()
    assert signed_in.data == {"second_factor": True}


def test_a_right_code_right_after_a_wrong_one_must_wait(client, admin_membership):
    device, _ = enrol(admin_membership.user)
    client.post("/sign-in/", {"username": "admin@example.com", "password": PASSWORD})
    client.post("/sign-in/code/", {"code": "123456"})

    response = client.post("/sign-in/code/", {"code": totp_code(device, steps_ahead=1)})

    assert response.status_code == 200
    assert SESSION_KEY not in client.session


def test_a_recovery_code_signs_in_once(client, admin_membership):
    _, codes = enrol(admin_membership.user)

    client.post("/sign-in/", {"username": "admin@example.com", "password": PASSWORD})
    response = client.post("/sign-in/code/", {"code": codes[0]}, follow=True)
    assert client.session[SESSION_KEY] == str(admin_membership.user.pk)
    assert "9 left" in response.content.decode()

    client.logout()
    client.post("/sign-in/", {"username": "admin@example.com", "password": PASSWORD})
    again = client.post("/sign-in/code/", {"code": codes[0]})
    assert again.status_code == 200
    assert SESSION_KEY not in client.session


def test_the_code_step_without_the_password_step_goes_back_to_sign_in(client):
    response = client.get("/sign-in/code/")

    assert response["Location"] == "/sign-in/"


def test_the_password_step_lapses_after_five_minutes(client, admin_membership):
    device, _ = enrol(admin_membership.user)
    client.post("/sign-in/", {"username": "admin@example.com", "password": PASSWORD})

    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=6)):
        response = client.post("/sign-in/code/", {"code": totp_code(device)})

    assert response["Location"] == "/sign-in/"
    assert SESSION_KEY not in client.session


def test_new_orgs_require_two_factor_by_default():
    assert Org.objects.create(name="New", slug="new").require_two_factor is True


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_an_org_that_requires_it_sends_owners_and_admins_to_enrolment_first(client, org, role):
    org.require_two_factor = True
    org.save()
    membership = MembershipFactory(org=org, role=role)
    client.force_login(membership.user)

    assert client.get("/keys/")["Location"] == "/account/two-factor/"
    assert client.get("/members/")["Location"] == "/account/two-factor/"
    assert client.get("/account/two-factor/").status_code == 200
    device = TOTPDevice.objects.get(user=membership.user)
    client.post("/account/two-factor/", {"code": totp_code(device)})

    assert client.get("/keys/").status_code == 200


@pytest.mark.parametrize("role", [Role.MEMBER, Role.AUDITOR])
def test_members_and_auditors_are_not_sent_to_enrolment(client, org, role):
    org.require_two_factor = True
    org.save()
    membership = MembershipFactory(org=org, role=role)
    client.force_login(membership.user)

    assert client.get("/keys/").status_code == 200


def test_a_session_not_signed_in_with_the_code_must_enter_one(client, org, admin_membership):
    org.require_two_factor = True
    org.save()
    device, _ = enrol(admin_membership.user)
    client.force_login(admin_membership.user)  # a session from before two-factor was set up

    assert client.get("/keys/")["Location"] == "/account/two-factor/"
    assert "Enter your code" in client.get("/account/two-factor/").content.decode()
    client.post("/account/two-factor/", {"code": totp_code(device, steps_ahead=1)})

    assert client.get("/keys/").status_code == 200


def test_owners_set_the_requirement_confirmed_and_audited(owner_client, org):
    response = owner_client.post("/members/security/", {"require_two_factor": "on"})

    assert response["Location"] == "/members/"
    org.refresh_from_db()
    assert org.require_two_factor is True
    event = AuditEvent.objects.get(org=org, action="org.security_changed")
    assert event.changes == {"require_two_factor": {"before": False, "after": True}}


def test_admins_cannot_set_the_requirement(admin_client, org):
    assert admin_client.post("/members/security/", {}).status_code == 403


def test_removing_two_factor_needs_a_step_up_and_is_audited(admin_client, admin_membership, org):
    device, _ = enrol(admin_membership.user)
    verify_session(admin_client, device)
    stale_step_up(admin_client)

    refused = admin_client.post("/account/two-factor/remove/")
    assert refused["Location"].startswith("/account/step-up/")
    assert two_factor.has_two_factor(admin_membership.user)

    admin_client.post(
        "/account/step-up/",
        {"code": totp_code(device, steps_ahead=1), "next": "/account/two-factor/remove/"},
    )
    admin_client.post("/account/two-factor/remove/")

    assert not two_factor.has_two_factor(admin_membership.user)
    assert not StaticToken.objects.filter(device__user=admin_membership.user).exists()
    assert _actions(org)[-1] == "user.two_factor_removed"


def test_new_recovery_codes_replace_the_old_ones(admin_client, admin_membership, org):
    device, old = enrol(admin_membership.user)
    verify_session(admin_client, device)
    assert (
        "stop working" in admin_client.get("/account/two-factor/recovery-codes/").content.decode()
    )

    response = admin_client.post("/account/two-factor/recovery-codes/")

    new = re.findall(r"<li><code>([a-z0-9]+)</code></li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert two_factor.verify(admin_membership.user, old[0]) is None
    assert _actions(org)[-1] == "user.recovery_codes_renewed"


def test_the_audit_log_never_holds_a_code_or_the_secret(admin_client, admin_membership, org):
    device, codes = enrol(admin_membership.user)
    verify_session(admin_client, device)
    admin_client.post("/account/two-factor/recovery-codes/")

    for event in AuditEvent.objects.filter(org=org):
        text = f"{event.data} {event.changes} {event.target_label}"
        assert device.key not in text
        assert not any(code in text for code in codes)


def test_django_admin_shows_no_device_or_session(client, settings):
    from gateway_console.models import User

    staff = User.objects.create_superuser("root@example.com", PASSWORD)
    client.force_login(staff)

    index = client.get("/admin/").content.decode()

    assert "/admin/otp_totp/" not in index
    assert "/admin/otp_static/" not in index
    assert "/admin/user_sessions/" not in index
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
