"""A person's own account: step-up, two-factor, password and sessions."""

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from accounts import two_factor
from accounts.forms import CodeForm, PasswordChangeForm, StepUpPasswordForm
from accounts.members import end_sessions
from accounts.people import person_actor, record_in_each_org
from gateway_console import show_once, step_up
from gateway_console.actors import Actor


def _safe_next(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    return target


def _actor(request: HttpRequest) -> Actor:
    return person_actor(request.user, request=request)


@login_required
@require_http_methods(["GET", "POST"])
def step_up_view(request: HttpRequest) -> HttpResponse:
    """Proves it is still the person: a code from their authenticator when they have one,
    else their password. Then back to the page that asked (with a GET)."""
    user = request.user
    uses_code = two_factor.has_two_factor(user)
    form_class = CodeForm if uses_code else StepUpPasswordForm
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if uses_code:
            proved = two_factor.verify(user, form.cleaned_data["code"], recovery=False)
            wrong = "That code is not right. Enter the six digits your app shows now."
        else:
            proved = auth.authenticate(
                request, username=user.email, password=form.cleaned_data["password"]
            )
            proved = proved if proved is not None and proved.pk == user.pk else None
            wrong = "That password is not right."
        if proved is not None:
            step_up.mark(request)
            return redirect(_safe_next(request))
        form.add_error("code" if uses_code else "password", wrong)
    return render(
        request,
        "accounts/step_up.html",
        {"form": form, "uses_code": uses_code, "next": _safe_next(request, "")},
    )


def _show_recovery_codes(request: HttpRequest, codes: list[str], *, first: bool) -> HttpResponse:
    return show_once.no_store(
        render(request, "accounts/recovery_codes.html", {"codes": codes, "first": first})
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_page(request: HttpRequest) -> HttpResponse:
    """Enrolment when the person has no factor; a code to verify this session when they have
    one and it is not verified; else what they have, with its actions."""
    user = request.user
    if not two_factor.has_two_factor(user):
        return _enrol(request)
    if not user.is_verified():
        return _verify_session(request)
    return render(
        request,
        "accounts/two_factor.html",
        {
            "device": two_factor.totp_device(user),
            "codes_left": two_factor.recovery_codes_left(user),
        },
    )


ENROLMENT_DEVICE = "two_factor_enrolment_device"


def _enrol(request: HttpRequest) -> HttpResponse:
    """Setting up a factor proves nothing about who holds the session, so it asks for a fresh
    step-up (the sign-in just before counts) and gives none."""
    if not step_up.is_fresh(request):
        return step_up.demand(request)
    user = request.user
    device = two_factor.enrolment_device(user, request.session.get(ENROLMENT_DEVICE))
    request.session[ENROLMENT_DEVICE] = device.pk
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = two_factor.confirm_enrolment(
                user=user, device=device, code=form.cleaned_data["code"], actor=_actor(request)
            )
        except two_factor.TwoFactorRefused as refused:
            form.add_error("code", str(refused))
        else:
            device.refresh_from_db()
            request.session.pop(ENROLMENT_DEVICE, None)
            otp_login(request, device)
            return _show_recovery_codes(request, codes, first=True)
    response = render(
        request,
        "accounts/two_factor_enrol.html",
        {
            "form": form,
            "qr_svg": two_factor.qr_svg(device),
            "secret": two_factor.secret_text(device),
            "required": request.membership is not None
            and two_factor.required_of(request.membership),
        },
    )
    return show_once.no_store(response)


def _verify_session(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor.verify(request.user, form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            step_up.mark(request)
            return redirect(_safe_next(request))
        form.add_error("code", "That code is not right. Enter the six digits your app shows now.")
    return render(request, "accounts/two_factor_verify.html", {"form": form})


def _unverified(request: HttpRequest) -> HttpResponse | None:
    """A person with a factor acts on it only from a session signed in with it."""
    if two_factor.has_two_factor(request.user) and not request.user.is_verified():
        return redirect("two-factor")
    return None


@login_required
@step_up.required
@require_http_methods(["GET", "POST"])
def recovery_codes_renew(request: HttpRequest) -> HttpResponse:
    """GET: what making new codes does. POST: make them (after a fresh step-up)."""
    if (refused := _unverified(request)) is not None:
        return refused
    if request.method != "POST":
        return render(request, "accounts/recovery_codes_confirm.html")
    try:
        codes = two_factor.renew_recovery_codes(user=request.user, actor=_actor(request))
    except two_factor.TwoFactorRefused as refused:
        messages.error(request, str(refused))
        return redirect("two-factor")
    return _show_recovery_codes(request, codes, first=False)


@login_required
@step_up.required
@require_http_methods(["GET", "POST"])
def two_factor_remove(request: HttpRequest) -> HttpResponse:
    """GET: what removing means. POST: remove (after a fresh step-up)."""
    if (refused := _unverified(request)) is not None:
        return refused
    if request.method == "POST":
        try:
            two_factor.remove(user=request.user, actor=_actor(request))
        except two_factor.TwoFactorRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, "Two-factor is off: you sign in with your password alone.")
        return redirect("two-factor")
    required = request.membership is not None and two_factor.required_of(request.membership)
    return render(request, "accounts/two_factor_remove.html", {"required": required})


class PasswordChangeView(auth_views.PasswordChangeView):
    """Asks for the current password. The session it is changed in stays signed in; every
    other session of the person ends."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("account")
    form_class = PasswordChangeForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    @transaction.atomic
    def form_valid(self, form):
        response = super().form_valid(form)
        end_sessions(self.request.user, keep=self.request.session.session_key)
        record_in_each_org(
            self.request.user, actor=_actor(self.request), action="user.password_changed"
        )
        if not two_factor.has_two_factor(self.request.user):
            # The current password proved it is them; with two-factor, only a code does.
            step_up.mark(self.request)
        messages.success(
            self.request, "Your password is changed. Every other session of yours has ended."
        )
        return response


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    sessions = (
        user.session_set.filter(expire_date__gt=timezone.now())
        .order_by("-last_activity")
        .only("session_key", "user_agent", "ip", "last_activity", "expire_date")
    )
    return render(
        request,
        "accounts/account.html",
        {
            "sessions": sessions,
            "current_key": request.session.session_key,
            "has_two_factor": two_factor.has_two_factor(user),
            "idle_minutes": settings.SESSION_IDLE_MINUTES,
            "absolute_hours": settings.SESSION_ABSOLUTE_HOURS,
        },
    )


@login_required
@require_POST
def sign_out_elsewhere(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        ended = end_sessions(request.user, keep=request.session.session_key)
        if ended:
            record_in_each_org(
                request.user,
                actor=_actor(request),
                action="user.sessions_ended",
                data={"sessions": ended},
            )
    messages.success(
        request,
        f"Signed out {ended} other session{'s' if ended != 1 else ''}."
        if ended
        else "You had no other session.",
    )
    return redirect("account")
