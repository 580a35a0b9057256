import re
import uuid

from django.http import HttpRequest, HttpResponse

from gateway_console.models import Membership

SESSION_ORG_KEY = "current_org_id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class RequestIdMiddleware:
    """Gives every request an id (the client's `X-Request-Id` when it is sane), echoed back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-Id", "")
        request.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        response = self.get_response(request)
        response.setdefault("X-Request-Id", request.request_id)
        return response


class CurrentMembershipMiddleware:
    """Sets `request.membership`: the signed-in user's role in the org chosen in the session."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None
        if request.user.is_authenticated:
            request.membership = current_membership(request)
        return self.get_response(request)


def current_membership(request: HttpRequest) -> Membership | None:
    memberships = Membership.objects.filter(user=request.user).select_related("org")
    chosen = request.session.get(SESSION_ORG_KEY)
    if chosen:
        membership = memberships.filter(org_id=chosen).first()
        if membership is not None:
            return membership
    membership = memberships.order_by("created_at").first()
    if membership is not None:
        request.session[SESSION_ORG_KEY] = str(membership.org_id)
    return membership
