"""docs/contract.md sections 1 and 4: neither a key's plaintext nor an admin token's is ever
stored, logged, put in a cookie or in a URL, and a show-once page holds it only as text.

Creates and rotates keys through the web pages and the admin API, and mints admin tokens on
their page and with the command, with every logger at DEBUG (SQL included); then looks for the
plaintexts in every table, every session, the audit rows, the cookies, the URLs and the
captured log."""

import logging
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from user_sessions.models import Session

from audit.models import AuditEvent
from gateway_console import secret
from keys.models import Key
from tests.support.api import ApiClient, admin_token_pattern
from tests.support.keys import plaintext_from

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything_logged(caplog, settings):
    # Django logs SQL (django.db.backends) only when DEBUG is on; ninja logs more with DEBUG.
    settings.DEBUG = True
    caplog.set_level(logging.DEBUG)
    for name in [*logging.root.manager.loggerDict, "django", "django.db.backends", "ninja"]:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _database_dump() -> str:
    """Every value of every row of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                chunks.append(f"{table}: " + " | ".join(str(value) for value in row))
    # Session data is signed and encoded; look inside it too.
    for session in Session.objects.all():
        chunks.append(f"session {session.session_key}: {session.get_decoded()!r}")
    return "\n".join(chunks)


def _log_text(caplog) -> str:
    return "\n".join(
        [record.getMessage() for record in caplog.records]
        + [str(getattr(record, "sql", "")) for record in caplog.records]
        + [repr(getattr(record, "params", "")) for record in caplog.records]
        + [caplog.text]
    )


def _urls_of(response) -> list[str]:
    urls = [response.request["PATH_INFO"] + "?" + response.request.get("QUERY_STRING", "")]
    if response.has_header("Location"):
        urls.append(response["Location"])
    urls += [url for url, _ in getattr(response, "redirect_chain", [])]
    return urls


def _fragments(plaintext: str) -> list[str]:
    # The plaintext, and a random middle of it that appears nowhere else (the stored preview
    # of a key is its first 12 and last 4 characters, of a token its first 15 and last 4,
    # which may of course appear).
    return [plaintext, plaintext[15:-4]]


def test_no_plaintext_in_the_database_the_logs_the_cookies_or_a_url(
    admin_client, org, team, everything_logged
):
    responses = []

    form = admin_client.get(reverse("keys:new"))
    responses.append(form)
    created = admin_client.post(
        reverse("keys:new"),
        {
            "name": "billing-prod",
            "team": str(team.pk),
            "type": "standard",
            "limit_period": "monthly",
            "model_scope": "gpt-4o",
            "nonce": form.context["nonce"],
        },
    )
    responses.append(created)
    first = plaintext_from(created)
    key = Key.objects.get(org=org)

    confirm = admin_client.get(reverse("keys:rotate", args=[key.pk]))
    responses.append(confirm)
    rotated = admin_client.post(
        reverse("keys:rotate", args=[key.pk]),
        {"grace_hours": "2", "nonce": confirm.context["nonce"]},
    )
    responses.append(rotated)
    second = plaintext_from(rotated)

    # A reload of each show-once page, then the pages that show the key afterwards.
    responses.append(
        admin_client.post(
            reverse("keys:new"),
            {
                "name": "billing-prod",
                "type": "standard",
                "limit_period": "monthly",
                "nonce": form.context["nonce"],
            },
            follow=True,
        )
    )
    responses.append(
        admin_client.post(
            reverse("keys:rotate", args=[key.pk]),
            {"grace_hours": "2", "nonce": confirm.context["nonce"]},
            follow=True,
        )
    )
    responses.append(admin_client.get(reverse("keys:list")))
    responses.append(admin_client.get(reverse("keys:detail", args=[key.pk])))
    responses.append(admin_client.get(reverse("audit:list")))

    assert secret.is_well_formed(first)
    assert secret.is_well_formed(second)
    assert first != second
    assert Key.objects.filter(org=org).count() == 1

    dump = _database_dump()
    log = _log_text(everything_logged)
    cookies = "\n".join(f"{c.key}={c.value}" for c in admin_client.cookies.values())
    urls = "\n".join(url for response in responses for url in _urls_of(response))

    # The search would have found them: the dump holds the hashes and the previews, and the
    # SQL of the inserts and updates was logged with its parameters.
    assert key.secret_hash in dump
    assert secret.secret_hash(second) in dump
    assert secret.secret_hash(first) in dump  # kept as the grace secret, hashed
    assert "keys_key" in log
    assert secret.secret_hash(second) in log
    assert reverse("keys:detail", args=[key.pk]) in urls

    for plaintext in (first, second):
        for fragment in _fragments(plaintext):
            assert fragment not in dump
            assert fragment not in log
            assert fragment not in cookies
            assert fragment not in urls

    # Only the two show-once pages ever contained a plaintext.
    showing = [r for r in responses if first in r.content.decode() or second in r.content.decode()]
    assert showing == [created, rotated]
    assert second not in created.content.decode()
    assert first not in rotated.content.decode()


def test_no_plaintext_in_the_database_the_audit_log_the_logs_or_a_url(
    admin_client, org, key, everything_logged
):
    # An admin token from the console page and one from the command.
    page = admin_client.post("/admin-tokens/new/", {"name": "ci", "nonce": "n-1"})
    (token,) = admin_token_pattern().findall(page.content.decode())
    out = StringIO()
    call_command(
        "create_admin_token", "--org", "acme", "--name", "cron", stdout=out, stderr=StringIO()
    )
    command_token = out.getvalue().strip()
    api = ApiClient(token)

    created = api.post("/api/v1/keys", {"name": "billing-prod"})
    rotated = api.post(f"/api/v1/keys/{created.json()['id']}/rotate", {"grace_hours": 1})
    rotated_existing = ApiClient(command_token).post(f"/api/v1/keys/{key.pk}/rotate")
    # Refused tokens, under a scheme ninja would have logged with DEBUG on.
    ApiClient(token[:-1] + ("x" if token[-1] != "x" else "y")).get("/api/v1/keys")
    api.get("/api/v1/keys", headers={"Authorization": f"Token {token}"})
    responses = [
        page,
        created,
        rotated,
        rotated_existing,
        api.get("/api/v1/keys"),
        api.get("/api/v1/audit-events"),
        admin_client.get("/admin-tokens/"),
    ]

    key_plaintexts = [created.json()["key"], rotated.json()["key"], rotated_existing.json()["key"]]
    for plaintext in key_plaintexts:
        assert secret.is_well_formed(plaintext)
    dump = _database_dump()
    log = _log_text(everything_logged)
    audit_rows = "\n".join(str(row) for row in AuditEvent.objects.filter(org=org).values())
    urls = "\n".join(url for response in responses for url in _urls_of(response))

    # The search would have found them: the hashes were stored and the SQL logged.
    assert secret.secret_hash(token) in dump
    assert secret.secret_hash(key_plaintexts[0]) in log
    assert "admin_token.created" in audit_rows and "key.rotated" in audit_rows

    for plaintext in [token, command_token, *key_plaintexts]:
        for fragment in _fragments(plaintext):
            assert fragment not in dump
            assert fragment not in log
            assert fragment not in audit_rows
            assert fragment not in urls
    assert not admin_token_pattern().search(dump + log + audit_rows)


def test_show_once_pages_put_the_plaintext_in_no_link_or_attribute(admin_client, org, key):
    created = admin_client.post(
        reverse("keys:new"),
        {"name": "x", "type": "standard", "limit_period": "monthly", "nonce": "n1"},
    )
    rotated = admin_client.post(
        reverse("keys:rotate", args=[key.pk]), {"grace_hours": "0", "nonce": "n2"}
    )

    for response in (created, rotated):
        plaintext = plaintext_from(response)
        html = response.content.decode()
        assert not response.has_header("Location")
        attributes = re.findall(r'[\w:-]+="([^"]*)"', html)
        assert attributes
        assert not any(plaintext in value for value in attributes)
        assert html.count(plaintext) == 1
