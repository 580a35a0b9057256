from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from gateway_console.selectors import memberships_of


def console(request: HttpRequest) -> dict:
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    return {
        "membership": membership,
        "current_org": membership.org if membership else None,
        "can_change": bool(membership and membership.can_change),
        # Only queried by pages that show the org switcher.
        "user_memberships": SimpleLazyObject(
            lambda: list(memberships_of(user)) if membership else []
        ),
    }
