from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve


class CSPMiddleware(LibraryCSPMiddleware):
    """django-csp's, skipping a response that is exempt from the policy (config.urls `machine`):
    the library builds both policies first and looks at the exemption after, ~60 µs a request on
    the gateway's hot path for a header it then does not send."""

    def process_response(self, request, response):
        report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
        if getattr(response, "_csp_exempt", False) and not report_only:
            return response
        return super().process_response(request, response)


# Where the machine calls that skip the browser's middleware live (config.urls): the gateway's
# and the secret scanners'. Only these paths are resolved here; a browser's request is passed on
# after one prefix test.
MACHINE_PREFIXES = ("/api/v1/gateway/", "/api/v1/secret-scanning/")


def skips_browser_middleware(view):
    """Marks a view that machines call with their own credentials (a gateway token, a scanner's
    signature), never a person's session: MachineCallMiddleware hands it its request past the
    browser's middleware."""
    view.skips_browser_middleware = True
    return view


class MachineCallMiddleware:
    """Sends a machine call (skips_browser_middleware) straight to its view, past the middleware
    listed after this one: sessions, CSRF, sign-in, two-factor, messages, session timeouts,
    htmx, the current membership and axes are all for people in a browser.

    Through them, a cookie that a forward-auth gateway passed on from its client cost authorize
    seven queries, and an idle session turned the gateway's answer into a redirect to the
    sign-in page (and signed the person out). Even without a cookie they cost some 100 µs of
    each gateway call. The middleware before this one still applies: HTTPS, the request id, and
    CommonMiddleware's Host check and Content-Length (without which gunicorn answers an HTTP/1.1
    gateway in chunks)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(MACHINE_PREFIXES):
            try:
                match = resolve(request.path_info, getattr(request, "urlconf", None))
            except Resolver404:
                return self.get_response(request)
            if getattr(match.func, "skips_browser_middleware", False):
                request.resolver_match = match
                return match.func(request, *match.args, **match.kwargs)
        return self.get_response(request)
