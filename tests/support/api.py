"""Fixtures of the admin API tests: tokens of each kind and clients that send them."""

import json
import re

import pytest
from django.test import Client

from audit import Actor
from audit.models import AuditEvent
from gateway_console.admin_tokens import create_admin_token
from tests.factories import make_key


class ApiClient(Client):
    """The test client, sending an admin token and JSON bodies."""

    def __init__(self, token: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        super().__init__(headers=headers, **kwargs)
        self.token = token

    def _json(self, method, path, data=None, **extra):
        # No data: an empty body, as `curl -X POST` sends it.
        body = "" if data is None else json.dumps(data)
        return getattr(super(), method)(path, body, content_type="application/json", **extra)

    def post(self, path, data=None, **extra):
        return self._json("post", path, data, **extra)

    def patch(self, path, data=None, **extra):
        return self._json("patch", path, data, **extra)


def make_token(org, *, read_only: bool = False, name: str = "ci"):
    """An admin token made the way the console makes them; returns (token, plaintext)."""
    return create_admin_token(org=org, actor=Actor.system("tests"), name=name, read_only=read_only)


@pytest.fixture
def token_and_secret(org):
    return make_token(org, name="terraform")


@pytest.fixture
def admin_token(token_and_secret):
    return token_and_secret[0]


@pytest.fixture
def api(token_and_secret):
    """A client with a read-write token of the org Acme."""
    return ApiClient(token_and_secret[1])


@pytest.fixture
def read_only_token_and_secret(org):
    return make_token(org, read_only=True, name="report")


@pytest.fixture
def read_only_api(read_only_token_and_secret):
    return ApiClient(read_only_token_and_secret[1])


@pytest.fixture
def other_org_api(other_org):
    return ApiClient(make_token(other_org, name="globex-ci")[1])


@pytest.fixture
def other_org_key(other_org):
    return make_key(other_org, name="globex-prod")[0]


def events(org, action: str | None = None) -> list[AuditEvent]:
    """The org's audit events, oldest first (optionally of one action)."""
    qs = AuditEvent.objects.filter(org=org).order_by("seq")
    if action is not None:
        qs = qs.filter(action=action)
    return list(qs)


def error_of(response) -> dict:
    """The ContractError body's `error`, after checking the body has exactly that shape."""
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"type", "code", "message"} <= set(body["error"]), body
    assert body["error"]["message"].strip()
    return body["error"]


def admin_token_pattern() -> re.Pattern:
    return re.compile(r"sk-admin-[0-9A-Za-z]{46}(?![0-9A-Za-z])")
