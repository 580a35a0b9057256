"""Helpers shared by the keys tests."""

import re

import pytest
from django.conf import settings


def plaintext_pattern() -> re.Pattern:
    """Anything that looks like a key of docs/contract.md section 1 (prefix + 46 base62)."""
    return re.compile(re.escape(settings.KEY_PREFIX) + r"[0-9A-Za-z]{46}(?![0-9A-Za-z])")


def plaintext_from(response) -> str:
    """The secret a show-once page reveals."""
    match = re.search(r'<code id="plaintext" data-secret>([^<]+)</code>', response.content.decode())
    assert match, "the page shows no secret"
    return match.group(1)


@pytest.fixture
def key_form():
    """The new-key form's POST data; keyword arguments override fields."""

    def build(**overrides):
        data = {
            "name": "billing-prod",
            "team": "",
            "user_id": "",
            "type": "standard",
            "profile": "",
            "model_scope": "",
            "monthly_spend_cap": "",
            "cost_limit": "",
            "token_limit": "",
            "limit_period": "monthly",
            "rpm_limit": "",
            "expires_at": "",
        }
        data.update(overrides)
        return data

    return build
