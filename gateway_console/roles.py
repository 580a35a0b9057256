"""Who may do what: one decorator for views that change things, applied everywhere."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from gateway_console.models import Role

RANKS = {
    Role.OWNER: {Role.OWNER},
    Role.ADMIN: {Role.OWNER, Role.ADMIN},
    # Reading the whole org: admins and auditors.
    "reader": {Role.OWNER, Role.ADMIN, Role.AUDITOR},
    Role.MEMBER: {Role.OWNER, Role.ADMIN, Role.MEMBER, Role.AUDITOR},
}


def membership_required(view: Callable) -> Callable:
    """Signed in and with a current org; anyone with a role may pass."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.membership is None:
            return redirect("no-org")
        return view(request, *args, **kwargs)

    return wrapped


def role_required(role: str) -> Callable:
    """`@role_required("admin")`: owners and admins pass; everyone else gets 403."""

    allowed = RANKS[role]

    def decorator(view: Callable) -> Callable:
        @membership_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.membership.role not in allowed:
                raise PermissionDenied("Your role in this organisation does not allow this.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
