"""Sign-ins, failed sign-ins and lockouts, written as audit events of each org the person
belongs to, with the address they came from (gateway_console.actors.client_ip). A failure on an
email that has no account is written nowhere: there is no org whose log it belongs in.

Also, a sign-in starts the session's clocks (accounts.middleware) and counts as a step-up."""

from django.conf import settings
from django.db import transaction

from accounts import middleware
from accounts.people import person_actor, record_in_each_org
from gateway_console import step_up, throttle
from gateway_console.models import User


def _user_of(email: str | None) -> User | None:
    if not email:
        return None
    return User.objects.filter(email__iexact=email.strip()).first()


def on_signed_in(sender, request, user, **kwargs) -> None:
    """Any sign-in (user_logged_in): the session's clocks start, and it counts as a step-up."""
    if request is None or not hasattr(request, "session"):
        return
    middleware.start(request)
    step_up.mark(request)


def record_sign_in(request, user: User) -> None:
    """A person signed in through the sign-in pages (the only way in: Django admin's sign-in
    sends people there too)."""
    record_in_each_org(
        user,
        actor=person_actor(user, request=request),
        action="user.signed_in",
        data={"second_factor": bool(getattr(user, "otp_device", None))},
    )


def on_failed(sender, credentials, request=None, **kwargs) -> None:
    """A wrong password. An attempt refused by a lockout writes nothing (a client hammering at
    its lockout must not fill the log); the failure that reaches one of the wider limits
    (gateway_console.throttle, which counted it just before) also writes the lockout."""
    if request is None:
        return
    if getattr(request, "axes_locked_out", False) or getattr(request, "sign_in_refused", None):
        return
    email = credentials.get("username")
    user = _user_of(email)
    if user is None:
        return
    actor = person_actor(user, request=request)
    with transaction.atomic():
        record_in_each_org(user, actor=actor, action="user.sign_in_failed")
        if scope := throttle.refused(email, actor.ip_address):
            record_in_each_org(user, actor=actor, action="user.locked_out", data={"limit": scope})


def on_locked_out(sender, request=None, username=None, **kwargs) -> None:
    """axes locked this (email, address) pair out. axes signals every refused attempt during a
    lockout too (each one counted on); only the failure that reaches the limit starts it."""
    if request is None:
        return
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    user = _user_of(username)
    if user is None:
        return
    record_in_each_org(
        user,
        actor=person_actor(user, request=request),
        action="user.locked_out",
        data={"limit": "pair"},
    )
