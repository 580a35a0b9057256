"""Every page answers with the security headers (django-csp, django-permissions-policy, Django's
own), signed in as each role and signed out; no page holds an inline script, an event handler
attribute or a style attribute, which the policy would block."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.models import Invitation
from audit import Actor
from gateway_console.admin_tokens import create_admin_token
from gateway_console.models import Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ROLES = ("owner", "admin", "member", "auditor", "anonymous")
# JSON for the gateway, load balancers and secret scanners only: no browser policy (config/urls.py
# `machine`).
MACHINE_ROUTES = {
    "healthz",
    "readyz",
    "api/v1/gateway/authorize",
    "api/v1/gateway/usage",
    "api/v1/secret-scanning/leaks",
}
TEMPLATES = Path(settings.BASE_DIR) / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.I)


def _routes(patterns, prefix: str = "") -> list[str]:
    """Every path() route of the console, as written (`keys/<uuid:key_id>/`); the admin API
    (JSON, its own tests) and Django admin's model pages are left to their own tests, their
    index pages are kept."""
    routes = []
    for pattern in patterns:
        route = getattr(pattern.pattern, "_route", None)
        if route is None:  # a regular expression: the gateway's authorize alias
            continue
        if route in MACHINE_ROUTES:
            continue
        if isinstance(pattern, URLResolver):
            if route in ("admin/", "api/v1/"):
                routes.append(prefix + route)
                continue
            routes.extend(_routes(pattern.url_patterns, prefix + route))
        elif isinstance(pattern, URLPattern):
            routes.append(prefix + route)
    return routes


@pytest.fixture
def world(org, team, key, owner_membership):
    token, _ = create_admin_token(org=org, actor=Actor.system("tests"), name="ci", read_only=False)
    carol = MembershipFactory(org=org, role=Role.MEMBER, user__email="carol@example.com")
    invitation = Invitation.objects.create(
        org=org,
        email="invited@example.com",
        role=Role.MEMBER,
        expires_at=timezone.now() + timedelta(days=7),
    )
    return {
        "key_id": key.pk,
        "team_id": team.pk,
        "token_id": token.pk,
        "membership_id": carol.pk,
        "invitation_id": invitation.pk,
        "token": "not-a-valid-token",
        "uidb64": "MQ",
        "request_id": "req_unknown",
    }


def _url(route: str, values: dict) -> str:
    def fill(match: re.Match) -> str:
        return str(values.get(match.group("name"), "x"))

    return "/" + re.sub(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>", fill, route)


def _client(request, role: str) -> Client:
    return Client() if role == "anonymous" else request.getfixturevalue(f"{role}_client")


def test_the_walk_covers_the_console():
    routes = _routes(get_resolver().url_patterns)

    assert {"keys/", "members/", "account/", "audit/", "billing/ledger/", "sign-in/"} <= set(routes)
    assert len(routes) > 50


@pytest.mark.parametrize("role", ROLES)
def test_every_page_sends_the_security_headers_and_holds_no_inline_code(request, role, world):
    client = _client(request, role)
    checked = 0
    for route in _routes(get_resolver().url_patterns):
        url = _url(route, world)
        response = client.get(url)
        policy = response.get("Content-Security-Policy", "")
        assert "script-src 'self'" in policy, url
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, url
        assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy, url
        assert "camera=()" in response.get("Permissions-Policy", ""), url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["Referrer-Policy"] == "same-origin", url
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            body = response.content.decode()
            assert not INLINE_SCRIPT.search(body), url
            assert not HANDLER.search(body), url
            assert not STYLE_ATTRIBUTE.search(body), url
            checked += 1
    assert checked > (3 if role == "anonymous" else 10)


def test_htmx_may_neither_eval_nor_run_swapped_in_scripts(owner_client):
    body = owner_client.get("/keys/").content.decode()

    config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', body).group(1)
    assert '"allowEval": false' in config
    assert '"allowScriptTags": false' in config
    assert '"includeIndicatorStyles": false' in config


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html"))
)
def test_no_template_holds_inline_script_handler_or_style(path):
    text = (TEMPLATES / path).read_text()

    assert not INLINE_SCRIPT.search(text)
    assert not HANDLER.search(text)
    assert not STYLE_ATTRIBUTE.search(text)


def test_the_gateways_endpoints_build_no_browser_policy(client):
    assert "Content-Security-Policy" not in client.get("/healthz")
    assert "Content-Security-Policy" not in client.post("/api/v1/gateway/authorize")
    assert "Content-Security-Policy" in client.get("/sign-in/")
