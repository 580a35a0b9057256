"""A second factor with django-otp: a TOTP device (an authenticator app) and ten single-use
recovery codes (a static device). Enrolment makes an unconfirmed TOTP device, shows its QR
code and secret, and confirms it with one code; the recovery codes are shown once then.

django-otp keeps a device's TOTP secret and its recovery codes as they are (it must, to check
a code): they are secrets of the database, like the password hashes beside them."""

from base64 import b32encode

import qrcode
import qrcode.image.svg
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.people import record_in_each_org
from audit import Actor
from gateway_console.models import Membership, Role, User

TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
RECOVERY_CODES = 10


class TwoFactorRefused(Exception):
    """A code was wrong, or the factor is not in the state the action needs."""


def required_of(membership: Membership) -> bool:
    """Does the org require a second factor of this person (owners and admins)?"""
    return membership.org.require_two_factor and membership.role in (Role.OWNER, Role.ADMIN)


def totp_device(user: User) -> TOTPDevice | None:
    """The person's confirmed authenticator, if they have one."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_two_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def enrolment_device(user: User, device_id: int | None = None) -> TOTPDevice:
    """The unconfirmed device an enrolment shows: the one `device_id` names (the enrolment
    session's own, kept in its session) on every reload until it is confirmed, so that the QR
    code a person scanned stays the one that works; else a new one. Never another session's:
    whoever held another session of the person would learn the secret they are setting up."""
    device = (
        TOTPDevice.objects.filter(user=user, confirmed=False, pk=device_id).first()
        if device_id
        else None
    )
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def wait_seconds(user: User) -> int:
    """How long the person must wait before a code is checked again (django-otp's throttling
    after wrong codes), 0 when they need not."""
    longest = 0
    for device in devices_for_user(user, confirmed=True):
        allowed, details = device.verify_is_allowed()
        if not allowed and details and details.get("locked_until"):
            remaining = (details["locked_until"] - timezone.now()).total_seconds()
            longest = max(longest, int(remaining) + 1)
    return longest


def secret_text(device: TOTPDevice) -> str:
    """The secret as an authenticator app's "enter a key" asks for it: base32, in groups."""
    encoded = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an inline SVG QR code."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode")


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def confirm_enrolment(*, user: User, device: TOTPDevice, code: str, actor: Actor) -> list[str]:
    """Confirms the enrolment device with a code from the app; returns the new recovery codes,
    which the caller shows once."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
    if device.confirmed:
        raise TwoFactorRefused("This authenticator is already set up.")
    if not device.verify_token(_digits(code)):
        raise TwoFactorRefused(
            "That code is not right. Enter the six digits your app shows now for this account."
        )
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    record_in_each_org(user, actor=actor, action="user.two_factor_enabled")
    return codes


@transaction.atomic
def renew_recovery_codes(*, user: User, actor: Actor) -> list[str]:
    if not has_two_factor(user):
        raise TwoFactorRefused("Set up an authenticator app first.")
    codes = _new_recovery_codes(user)
    record_in_each_org(user, actor=actor, action="user.recovery_codes_renewed")
    return codes


@transaction.atomic
def remove(*, user: User, actor: Actor) -> None:
    """Removes every factor of the person (the caller has checked step-up)."""
    if not has_two_factor(user):
        raise TwoFactorRefused("You have no second factor to remove.")
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    record_in_each_org(user, actor=actor, action="user.two_factor_removed")


def _digits(code: str) -> str:
    return "".join(code.split())


def verify(user: User, code: str, *, recovery: bool = True):
    """The device that accepts `code` (the app's, or a recovery code when `recovery`), or None.
    Each device counts its failures and makes the next try wait (django-otp's throttling)."""
    code = _digits(code)
    if not code:
        return None
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            if isinstance(device, StaticDevice) and not recovery:
                continue
            if device.verify_token(code):
                return device
    return None
