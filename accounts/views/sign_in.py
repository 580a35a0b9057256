"""Signing in: an email and a password, then, for a person with a second factor, a code from
their authenticator app (or one of their recovery codes). The password step keeps who passed
it in the session for a few minutes; only the code step signs them in."""

import time

from django.contrib import auth, messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticDevice

from accounts import sign_in_events, two_factor
from accounts.forms import CodeForm
from accounts.people import person_actor, record_in_each_org
from gateway_console import throttle
from gateway_console.forms import SignInForm
from gateway_console.models import User

PENDING = "sign_in_pending"
# The password step is good for this long (seconds) before the code must follow.
PENDING_SECONDS = 300


class SignInView(auth_views.LoginView):
    template_name = "accounts/sign_in.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if two_factor.has_two_factor(user):
            self.request.session[PENDING] = {
                "user": user.pk,
                "backend": user.backend,
                "at": time.time(),
                "next": self.get_redirect_url(),
            }
            return redirect("sign-in-code")
        response = super().form_valid(form)
        sign_in_events.record_sign_in(self.request, user)
        return response

    def form_invalid(self, form):
        # Refused by the wider limits of gateway_console.throttle (ThrottleBackend): say so.
        scope = getattr(self.request, "sign_in_refused", None)
        if scope is None:
            return super().form_invalid(form)
        minutes = int(throttle.window().total_seconds() // 60)
        context = {
            "scope": scope,
            "failure_limit": throttle.limit_of(scope),
            "cooloff_timedelta": throttle.window(),
            "cooloff_time": f"PT{minutes}M",
        }
        return render(self.request, "accounts/locked_out.html", context, status=429)


def _pending_user(request: HttpRequest) -> tuple[User | None, dict]:
    pending = request.session.get(PENDING) or {}
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None, {}
    return User.objects.filter(pk=pending["user"], is_active=True).first(), pending


@require_http_methods(["GET", "POST"])
def sign_in_code(request: HttpRequest) -> HttpResponse:
    user, pending = _pending_user(request)
    if user is None:
        request.session.pop(PENDING, None)
        messages.info(request, "Sign in with your email and password first.")
        return redirect("sign-in")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if wait := two_factor.wait_seconds(user):
            # Throttled: the code is not checked, and nothing more is recorded.
            form.add_error("code", f"Too many wrong codes: wait {wait} seconds, then try again.")
            return render(
                request, "accounts/sign_in_code.html", {"form": form, "email": user.email}
            )
        device = two_factor.verify(user, form.cleaned_data["code"])
        if device is None:
            with transaction.atomic():
                record_in_each_org(
                    user,
                    actor=person_actor(user, request=request),
                    action="user.sign_in_failed",
                    data={"step": "code"},
                )
            form.add_error(
                "code",
                "That code is not right. Enter the six digits your app shows now, or one of "
                "your recovery codes. Each wrong code makes the next try wait longer.",
            )
        else:
            return _finish(request, user, device, pending)
    return render(request, "accounts/sign_in_code.html", {"form": form, "email": user.email})


def _finish(request: HttpRequest, user: User, device, pending: dict) -> HttpResponse:
    del request.session[PENDING]
    user.otp_device = device  # django-otp marks the session verified on user_logged_in
    auth.login(request, user, backend=pending["backend"])
    sign_in_events.record_sign_in(request, user)
    if isinstance(device, StaticDevice):
        left = two_factor.recovery_codes_left(user)
        messages.warning(
            request,
            f"You signed in with a recovery code; {left} left. Make new ones on your "
            "two-factor page if you are running short.",
        )
    target = pending.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    return redirect(target or "/")


def admin_sign_in(request: HttpRequest) -> HttpResponse:
    """Django admin's sign-in page: staff sign in where everyone does (throttled, second factor,
    audited), then come back. A signed-in person who is not staff is refused here, rather than
    sent round from admin to the sign-in page and back."""
    if request.user.is_authenticated:
        raise PermissionDenied("Django admin is for platform staff.")
    query = request.META.get("QUERY_STRING", "")
    return redirect(f"{reverse('sign-in')}?{query}" if query else reverse("sign-in"))
