"""docs/contract.md section 1: a key's plaintext is never stored, logged or put in a URL. Creates
and rotates keys through the web pages with every logger at DEBUG (SQL included), then looks
for the plaintexts in every table, every session, the cookies and the captured log."""

import logging
import re

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.urls import reverse

from gateway_console import secret
from keys.models import Key
from tests.keys.conftest import plaintext_from

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything_logged(caplog, settings):
    # Django logs SQL (django.db.backends) only when DEBUG is on.
    settings.DEBUG = True
    caplog.set_level(logging.DEBUG)
    for name in [*logging.root.manager.loggerDict, "django", "django.db.backends"]:
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


def _urls_of(response) -> list[str]:
    urls = [response.request["PATH_INFO"] + "?" + response.request.get("QUERY_STRING", "")]
    if response.has_header("Location"):
        urls.append(response["Location"])
    urls += [url for url, _ in getattr(response, "redirect_chain", [])]
    return urls


def _fragments(plaintext: str) -> list[str]:
    # The plaintext, and its random middle that appears nowhere else (the stored preview is
    # the first 12 and last 4 characters, which may of course appear).
    return [plaintext, plaintext[12:-4]]


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
    log = "\n".join(
        [record.getMessage() for record in everything_logged.records]
        + [str(getattr(record, "sql", "")) for record in everything_logged.records]
        + [repr(getattr(record, "params", "")) for record in everything_logged.records]
        + [everything_logged.text]
    )
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
