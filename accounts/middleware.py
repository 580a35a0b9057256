"""The middleware of people and access: sessions that know their address, their timeouts, and
the second factor that an org may require of its owners and admins."""

import time
from functools import partial
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect
from django_otp import middleware as otp_middleware
from user_sessions.middleware import SessionMiddleware as UserSessionMiddleware

from accounts import two_factor
from gateway_console.actors import client_ip

SIGNED_IN_AT = "signed_in_at"
LAST_SEEN = "last_seen"
# last_seen is written at most this often (seconds): not a session write per request.
LAST_SEEN_PRECISION = 60


class SessionMiddleware(UserSessionMiddleware, DjangoSessionMiddleware):
    """django-user-sessions' middleware, with the client's address taken behind PROXY_COUNT
    proxies (gateway_console.actors.client_ip), not the last proxy's. It is also Django's own
    session middleware by class, as Django admin checks; user-sessions' methods come first."""

    def process_request(self, request: HttpRequest) -> None:
        request.session = self.SessionStore(
            session_key=request.COOKIES.get(settings.SESSION_COOKIE_NAME),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        # Worked out only when the session is written (accounts.session_store): most requests,
        # the gateway's above all, never write one.
        request.session.client_ip = partial(client_ip, request)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        try:
            return super().process_response(request, response)
        except UpdateError:
            # As Django's own middleware: the session was ended while this request ran.
            raise SessionInterrupted(
                "Your session ended while this request ran (signed out elsewhere, or removed)."
            ) from None


def _send_to(request: HttpRequest, url: str) -> HttpResponse:
    # Before django-htmx's middleware has run: the header itself.
    if request.headers.get("HX-Request") == "true":
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _has_session(request: HttpRequest) -> bool:
    """Without a session cookie a request is anonymous (the gateway's, the admin API's): the
    middleware below has nothing to look at, and costs those requests nothing."""
    return settings.SESSION_COOKIE_NAME in request.COOKIES


class OTPMiddleware(otp_middleware.OTPMiddleware):
    """django-otp's (request.user.is_verified()), for requests that carry a session."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _has_session(request):
            return self.get_response(request)
        return super().__call__(request)


class SessionTimeoutMiddleware:
    """Ends a signed-in session SESSION_IDLE_MINUTES after its last request, and
    SESSION_ABSOLUTE_HOURS after its sign-in, whatever happened in between."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _has_session(request):
            return self.get_response(request)
        if request.user.is_authenticated and (reason := self._expired(request)):
            auth.logout(request)
            messages.info(request, reason)
            login = reverse("sign-in")
            return _send_to(request, f"{login}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _expired(request: HttpRequest) -> str | None:
        now = time.time()
        session = request.session
        signed_in_at = session.setdefault(SIGNED_IN_AT, now)
        last_seen = session.get(LAST_SEEN, now)
        if now - signed_in_at > settings.SESSION_ABSOLUTE_HOURS * 3600:
            return "You were signed out: a session lasts at most " + _hours(
                settings.SESSION_ABSOLUTE_HOURS
            )
        if now - last_seen > settings.SESSION_IDLE_MINUTES * 60:
            return (
                f"You were signed out after {settings.SESSION_IDLE_MINUTES} minutes "
                "without activity. Sign in again to go on."
            )
        if now - last_seen >= LAST_SEEN_PRECISION or LAST_SEEN not in session:
            session[LAST_SEEN] = now
        return None


def _hours(hours: float) -> str:
    return f"{hours:g} hour{'s' if hours != 1 else ''}. Sign in again to go on."


def start(request: HttpRequest) -> None:
    """A sign-in: the session's clocks start now (user_logged_in)."""
    now = time.time()
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_SEEN] = now


# What a person who must enrol a second factor (or enter a code) may still reach: the
# enrolment page itself (not its remove or recovery-code pages), the step-up page, signing in
# and out, switching to another org, invitations and password resets, and what does not use
# the session's person at all (the admin API, with its tokens; the health check).
ENROLMENT_PAGE = "/account/two-factor/"
ENROLMENT_OPEN = (
    "/account/step-up/",
    "/sign-out/",
    "/sign-in/",
    "/orgs/switch/",
    "/invitations/",
    "/password-reset/",
    "/static/",
    "/api/",
    "/healthz",
)


class TwoFactorRequiredMiddleware:
    """An owner or admin of an org that requires two-factor is sent to enrolment, or to enter a
    code, before anything else in that org."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = getattr(request, "membership", None)
        if (
            _has_session(request)
            and membership is not None
            and two_factor.required_of(membership)
            and not request.user.is_verified()
            and request.path != ENROLMENT_PAGE
            and not request.path.startswith(ENROLMENT_OPEN)
        ):
            return _send_to(request, reverse("two-factor"))
        return self.get_response(request)
