"""docs/contract.md sections 1 and 4: neither a key's plaintext nor an admin token's is stored, logged
or put in a URL. Drives the API and the token page with every logger at DEBUG (SQL included),
then looks for the plaintexts in every table, the audit rows and the captured log."""

import logging
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEvent
from gateway_console import secret
from tests.api.conftest import ApiClient, admin_token_pattern

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
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks += [f"{table}: " + " | ".join(map(str, row)) for row in cursor.fetchall()]
    return "\n".join(chunks)


def _log_text(caplog) -> str:
    return "\n".join(
        [record.getMessage() for record in caplog.records]
        + [repr(getattr(record, "params", "")) for record in caplog.records]
        + [caplog.text]
    )


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
    ApiClient(token[:-1] + "x").get("/api/v1/keys")
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
    urls = "\n".join(
        r.request["PATH_INFO"] + "?" + r.request.get("QUERY_STRING", "") for r in responses
    )

    # The search would have found them: the hashes were stored and the SQL logged.
    assert secret.secret_hash(token) in dump
    assert secret.secret_hash(key_plaintexts[0]) in log
    assert "admin_token.created" in audit_rows and "key.rotated" in audit_rows

    for plaintext in [token, command_token, *key_plaintexts]:
        for fragment in (plaintext, plaintext[15:-4]):
            assert fragment not in dump
            assert fragment not in log
            assert fragment not in audit_rows
            assert fragment not in urls
    assert not admin_token_pattern().search(dump + log + audit_rows)
