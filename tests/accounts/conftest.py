"""What the people-and-access tests share: a step-up gone stale, and TOTP codes computed with
django-otp's own TOTP, as an authenticator app computes them."""

import time

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import two_factor
from audit import Actor
from gateway_console import step_up


def stale_step_up(client) -> None:
    """The client's last sign-in or code is older than STEP_UP_MINUTES."""
    session = client.session
    session[step_up.SESSION_KEY] = time.time() - 11 * 60
    session.save()


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the app shows now (or `steps_ahead` steps of 30 s later: a code within the
    device's tolerance that a test has not used yet)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrol(user) -> tuple[TOTPDevice, list[str]]:
    """A confirmed authenticator and the recovery codes, made through the service."""
    device = two_factor.enrolment_device(user)
    codes = two_factor.confirm_enrolment(
        user=user, device=device, code=totp_code(device), actor=Actor.system("tests")
    )
    device.refresh_from_db()
    # As if the enrolment's code was of an earlier window: this window's code is still unused.
    device.last_t = -1
    device.save(update_fields=["last_t"])
    return device, codes


def verify_session(client, device: TOTPDevice, *, steps_ahead: int = 0) -> None:
    """The client's session enters a code, as one signed in with two-factor has."""
    response = client.post(
        "/account/two-factor/", {"code": totp_code(device, steps_ahead=steps_ahead)}
    )
    assert response.status_code == 302, response.content.decode()[:500]


@pytest.fixture
def stale():
    return stale_step_up
