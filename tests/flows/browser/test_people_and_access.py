"""People and access through the browser: an owner invites a person, who accepts from the
emailed link, sets a password and enrols TOTP (the test computes the codes with django-otp's
own TOTP, from the secret the page shows); the person signs in with a code; an admin changes
their role after a step-up; the owner removes them and their open session is refused on its
next click; a password is reset from the emailed link."""

import re
import time
from base64 import b32decode

import pytest
from django.core import mail
from django_otp.oath import TOTP
from playwright.sync_api import Browser, Page, expect

from audit.models import AuditEvent
from gateway_console.models import Membership, Role
from tests.factories import PASSWORD
from tests.flows.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

NIA = "nia@example.com"
NIA_PASSWORD = "nia-chooses-a-long-passphrase"
NEW_PASSWORD = "admin-resets-to-this-passphrase"


def _link_in_last_mail(pattern: str) -> str:
    match = re.search(pattern, mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)


def _code(secret: str, *, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for this secret (base32, as the page shows it)."""
    key = b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = time.time() + steps_ahead * 30
    return f"{totp.token():06d}"


def _shot(name: str):
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def _new_page(browser: Browser, live_server) -> Page:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    return context.new_page()


def _sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/sign-in/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_invite_enrol_sign_in_step_up_remove_and_reset(
    page, browser, live_server, screenshot, settings, org, team, owner_membership, admin_membership
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []

    # 1. The owner invites Nia as a member of the team Search.
    _sign_in(page, owner_membership.user.email, PASSWORD)
    page.get_by_role("link", name="Members").click()
    page.get_by_role("link", name="Invite a member").click()
    page.get_by_label("Email").fill(NIA)
    page.get_by_label(team.name).check()
    screenshot("people-01-invite")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Invited {NIA}")
    expect(page.get_by_test_id("invitations")).to_contain_text(NIA)
    screenshot("people-02-invited")

    # 2. Nia accepts from the emailed link, sets a password and enrols TOTP.
    nia = _new_page(browser, live_server)
    nia.goto(_link_in_last_mail(r"http://[^/\s]+(/invitations/[^/\s]+/)"))
    expect(nia.get_by_role("heading", name="Join Acme")).to_be_visible()
    nia.get_by_label("Your name").fill("Nia")
    nia.locator("#id_password1").fill(NIA_PASSWORD)
    nia.locator("#id_password2").fill(NIA_PASSWORD)
    nia.screenshot(path=str(_shot("people-03-accept")))
    nia.get_by_role("button", name="Create account and join").click()
    expect(nia.locator(".flash-success")).to_contain_text("Welcome to Acme")
    nia.goto("/account/two-factor/")
    expect(nia.locator(".qr svg")).to_be_visible()
    secret = nia.get_by_test_id("otp-secret").inner_text()
    nia.screenshot(path=str(_shot("people-04-enrol")), full_page=True)
    nia.get_by_role("textbox", name="Code").fill(_code(secret))
    nia.get_by_role("button", name="Turn on two-factor").click()
    expect(nia.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    nia.screenshot(path=str(_shot("people-05-recovery-codes")), full_page=True)

    # 3. Nia signs in again, with a code.
    nia.get_by_role("button", name="Sign out").click()
    _sign_in(nia, NIA, NIA_PASSWORD)
    expect(nia.get_by_role("heading", name="Enter your code")).to_be_visible()
    nia.get_by_role("textbox", name="Code").fill(_code(secret, steps_ahead=1))
    nia.screenshot(path=str(_shot("people-06-sign-in-code")))
    nia.get_by_role("button", name="Sign in").click()
    expect(nia.get_by_role("heading", name="API keys")).to_be_visible()

    # 4. The admin changes Nia's role: their sign-in is older than the step-up window.
    settings.STEP_UP_MINUTES = 0.05  # three seconds
    ada = _new_page(browser, live_server)
    _sign_in(ada, admin_membership.user.email, PASSWORD)
    time.sleep(3.5)
    nia_membership = Membership.objects.get(user__email=NIA)
    ada.goto("/members/")
    ada.locator(f"a[href='/members/{nia_membership.pk}/role/']").click()
    expect(ada.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    ada.screenshot(path=str(_shot("people-07-step-up")))
    ada.get_by_label("Your password").fill(PASSWORD)
    ada.get_by_role("button", name="Confirm").click()
    expect(ada.get_by_role("heading", name=f"Change the role of {NIA}")).to_be_visible()
    ada.get_by_label("Role").select_option("auditor")
    ada.get_by_role("button", name="Change role").click()
    expect(ada.locator(".flash-success")).to_contain_text(f"{NIA} is now auditor")
    nia_membership.refresh_from_db()
    assert nia_membership.role == Role.AUDITOR
    settings.STEP_UP_MINUTES = 10

    # 5. The owner removes Nia; Nia's open session is refused on the next click.
    page.goto("/members/")
    page.locator(f"a[href='/members/{nia_membership.pk}/remove/']").click()
    screenshot("people-08-remove")
    page.get_by_role("button", name="Remove member").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Removed {NIA}")
    nia.get_by_role("link", name="Keys").click()
    expect(nia.get_by_role("heading", name="Sign in")).to_be_visible()
    nia.screenshot(path=str(_shot("people-09-removed-session")))

    # 6. The admin resets a forgotten password from the emailed link.
    reset = _new_page(browser, live_server)
    reset.goto("/sign-in/")
    reset.get_by_role("link", name="Forgot your password?").click()
    reset.get_by_label("Email").fill(admin_membership.user.email)
    reset.get_by_role("button", name="Send the link").click()
    expect(reset.get_by_role("heading", name="Check your email")).to_be_visible()
    reset.goto(_link_in_last_mail(r"http://[^/\s]+(/password-reset/\S+/)"))
    reset.locator("#id_new_password1").fill(NEW_PASSWORD)
    reset.locator("#id_new_password2").fill(NEW_PASSWORD)
    reset.screenshot(path=str(_shot("people-10-reset")))
    reset.get_by_role("button", name="Set password").click()
    expect(reset.locator(".flash-success")).to_contain_text("Your password is set")
    # The admin's open session ended with the reset.
    ada.goto("/keys/")
    expect(ada.get_by_role("heading", name="Sign in")).to_be_visible()
    _sign_in(reset, admin_membership.user.email, NEW_PASSWORD)
    expect(reset.get_by_role("heading", name="API keys")).to_be_visible()

    actions = set(AuditEvent.objects.filter(org=org).values_list("action", flat=True))
    assert {
        "member.invited",
        "member.joined",
        "user.two_factor_enabled",
        "user.signed_in",
        "member.role_changed",
        "member.removed",
        "user.password_reset",
    } <= actions
