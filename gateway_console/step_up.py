"""Step-up: a sensitive action (creating, rotating or deleting keys, admin tokens, changing
roles, removing members, the alert webhook, removing two-factor) needs a sign-in, or a fresh
code from the person's authenticator, within the last STEP_UP_MINUTES.

A view asks with `@step_up.required`. Without a fresh step-up the person is sent to the
step-up page (accounts) and then back to the page they came from, with a GET: a POSTed form is
kept in the session (without its passwords and codes, and without its `confirmed`) and filled
back in by the view from `resumed(request)`, so that the person sees the filled-in
confirmation page and confirms again. No POST is ever replayed.
"""

import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

SESSION_KEY = "step_up_at"
RESUME_KEY = "step_up_resume"
# Never kept in the session, and never filled back in: credentials, and the final "yes".
NOT_KEPT = frozenset({"csrfmiddlewaretoken", "password", "code", "old_password", "confirmed"})


def mark(request: HttpRequest) -> None:
    """The person has just proved themselves (a sign-in, a password, a code)."""
    request.session[SESSION_KEY] = time.time()


def is_fresh(request: HttpRequest) -> bool:
    at = request.session.get(SESSION_KEY)
    return isinstance(at, int | float) and time.time() - at <= settings.STEP_UP_MINUTES * 60


def demand(request: HttpRequest) -> HttpResponse:
    """Sends the person to step up, and from there back to this page with a GET."""
    if request.method == "POST":
        kept = [
            (name, value)
            for name, values in request.POST.lists()
            if name not in NOT_KEPT
            for value in values
        ]
        request.session[RESUME_KEY] = {"path": request.path, "data": kept}
    url = f"{reverse('step-up')}?{urlencode({'next': request.get_full_path()})}"
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def resumed(request: HttpRequest) -> QueryDict | None:
    """The form this page POSTed before a step-up interrupted it (once), or None."""
    kept = request.session.get(RESUME_KEY)
    if request.method != "GET" or not kept or kept.get("path") != request.path:
        return None
    del request.session[RESUME_KEY]
    data = QueryDict(mutable=True)
    for name, value in kept["data"]:
        data.appendlist(name, value)
    return data


def required(view: Callable | None = None, *, when: Callable[..., bool] | None = None):
    """`@step_up.required`, or `@step_up.required(when=lambda request, **kwargs: ...)` for a
    view of which only some requests are sensitive (a key's delete among its status actions)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            sensitive = when is None or when(request, *args, **kwargs)
            if sensitive and not is_fresh(request):
                return demand(request)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator(view) if view is not None else decorator
