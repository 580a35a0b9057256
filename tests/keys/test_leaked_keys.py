"""Leaked keys (keys.leaks, keys.leak_api; docs/leaked-keys.md): GitHub's secret-scanning
partner format, signed with ECDSA-P256-SHA256 by a key pair the test makes; a found key is
disabled, marked leaked, audited with its URL and alerted once; the signed reporter gets labels;
an unsigned caller and the console form learn nothing."""

import base64
import json
import re
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.middleware import LAST_SEEN
from billing.alerts.models import Alert
from keys import leaks
from keys.leak_views import THANKS
from keys.models import Key
from tests.factories import make_key
from tests.support.api import events

pytestmark = pytest.mark.django_db

URL = "/api/v1/secret-scanning/leaks"
FOUND_AT = "https://github.com/acme/app/blob/abc123/.env"


@pytest.fixture
def github_key(settings, tmp_path):
    """A key pair standing in for GitHub's, published the way GitHub publishes its own."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    document = {
        "public_keys": [{"key_identifier": "kid-1", "key": pem.decode(), "is_current": True}]
    }
    path = tmp_path / "secret_scanning.json"
    path.write_text(json.dumps(document))
    settings.SECRET_SCANNING_KEYS_FILE = str(path)
    return private


def _post(body: bytes, private=None, identifier="kid-1", signature=None, client=None):
    headers = {}
    if private is not None:
        signed = private.sign(body, ec.ECDSA(hashes.SHA256()))
        headers["Github-Public-Key-Signature"] = signature or base64.b64encode(signed).decode()
        headers["Github-Public-Key-Identifier"] = identifier
    client = client or Client()
    return client.post(URL, body, content_type="application/json", headers=headers)


def _report(*tokens: str) -> bytes:
    return json.dumps(
        [
            {"token": t, "type": "gateway_console_key", "url": FOUND_AT, "source": "commit"}
            for t in tokens
        ]
    ).encode()


def test_a_signed_report_disables_the_key_and_answers_labels(github_key, org, owner_membership):
    key, secret = make_key(org, name="leaky")
    unknown = "sk-gw-" + "A" * 46

    response = _post(_report(secret, unknown), github_key)

    assert response.status_code == 200
    assert response.json() == [
        {
            "token_hash": leaks.token_hash(secret),
            "token_type": "gateway_console_key",
            "label": "true_positive",
        },
        {
            "token_hash": leaks.token_hash(unknown),
            "token_type": "gateway_console_key",
            "label": "false_positive",
        },
    ]
    key.refresh_from_db()
    assert (key.status, key.leaked_url) == ("disabled", FOUND_AT)
    assert key.leaked_at is not None
    (event,) = events(org, "key.leaked")
    assert event.data == {"url": FOUND_AT, "source": "commit", "reported_via": "partner"}
    assert event.changes == {"status": {"before": "active", "after": "disabled"}}
    (alert,) = Alert.objects.filter(org=org)
    assert alert.kind == "key_leaked" and FOUND_AT in alert.message
    assert secret not in json.dumps(event.data) + alert.message


def test_a_report_that_comes_with_an_idle_console_session_is_still_answered(
    github_key, org, owner_membership, settings
):
    """The browser's middleware (its session timeout's redirect) is not on the scanner's path."""
    key, secret = make_key(org, name="leaky")
    client = Client()
    client.force_login(owner_membership.user)
    session = client.session
    session[LAST_SEEN] = time.time() - settings.SESSION_IDLE_MINUTES * 60 - 3600
    session.save()

    response = _post(_report(secret), github_key, client=client)

    assert response.status_code == 200, response.content
    assert response.json()[0]["label"] == "true_positive"
    key.refresh_from_db()
    assert key.status == "disabled"


def test_a_second_report_alerts_no_more(github_key, org):
    _, secret = make_key(org, name="leaky")
    _post(_report(secret), github_key)
    _post(_report(secret), github_key)

    assert Alert.objects.filter(org=org).count() == 1
    assert len(events(org, "key.leaked")) == 2


@pytest.mark.parametrize(
    "how",
    ["unsigned", "bad signature", "unknown identifier", "other key pair", "changed body"],
)
def test_a_report_not_signed_by_a_known_key_changes_nothing(github_key, org, how):
    key, secret = make_key(org, name="leaky")
    body = _report(secret)
    if how == "unsigned":
        response = _post(body)
    elif how == "bad signature":
        response = _post(body, github_key, signature=base64.b64encode(b"nonsense").decode())
    elif how == "unknown identifier":
        response = _post(body, github_key, identifier="kid-2")
    elif how == "other key pair":
        response = _post(body, ec.generate_private_key(ec.SECP256R1()))
    else:
        signed = github_key.sign(body, ec.ECDSA(hashes.SHA256()))
        response = Client().post(
            URL,
            body.replace(b"commit", b"commix"),
            content_type="application/json",
            headers={
                "Github-Public-Key-Identifier": "kid-1",
                "Github-Public-Key-Signature": base64.b64encode(signed).decode(),
            },
        )

    assert response.status_code == 401
    assert "true_positive" not in response.content.decode()
    assert Key.objects.get(pk=key.pk).status == "active"
    assert not events(org, "key.leaked")


@pytest.mark.parametrize(
    "body",
    [b"{}", b"not json", b'[{"token": 5}]', b"[" + b'{"token":"x"},' * 1000 + b'{"token":"x"}]'],
)
def test_a_signed_body_that_is_not_the_format_is_refused(github_key, body):
    response = _post(body, github_key)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_the_console_form_disables_a_real_key_and_says_the_same_either_way(
    member_client, org, owner_membership
):
    key, secret = make_key(org, name="leaky")
    url = reverse("keys:report-leak")

    real = member_client.post(url, {"key": secret, "url": FOUND_AT}, follow=True)
    fake = member_client.post(url, {"key": "sk-gw-" + "B" * 46, "url": ""}, follow=True)

    assert escape(THANKS) in real.content.decode()
    # The whole page, bar its CSRF token, is the same for a real key and an invented one.
    assert _without_csrf(real.content.decode()) == _without_csrf(fake.content.decode())
    assert Key.objects.get(pk=key.pk).status == "disabled"
    (event,) = events(org, "key.leaked")
    assert event.data["reported_via"] == "console"


def _without_csrf(html: str) -> str:
    # Django's masked CSRF tokens: 64 letters and digits, in the form and in htmx's headers.
    return re.sub(r"\b[A-Za-z0-9]{64}\b", "", html)


def test_the_key_page_and_list_mark_a_leaked_key(admin_client, github_key, org):
    key, secret = make_key(org, name="leaky")
    _post(_report(secret), github_key)

    page = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()
    listing = admin_client.get(reverse("keys:list")).content.decode()

    assert "Leaked: reported" in page and FOUND_AT in page
    assert ">leaked</span>" in listing


def test_the_documented_regex_and_checksum_tell_real_keys_from_lookalikes():
    """docs/leaked-keys.md's snippet, run as written, against keys the console makes."""
    from pathlib import Path

    from gateway_console import secret

    doc = (Path(__file__).resolve().parents[2] / "docs" / "leaked-keys.md").read_text()
    snippet = doc.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(snippet, scope)  # the project's own documentation
    for _ in range(200):
        real = secret.new_secret()
        assert scope["looks_real"](real)
        assert not scope["looks_real"](real[:-1] + ("A" if real[-1] != "A" else "B"))
