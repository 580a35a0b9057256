"""`manage.py create_admin_token --org <slug> --name <name> [--read-only]`: prints the token
once, alone on standard output; one `admin_token.created` event by the system."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from gateway_console import admin_tokens
from gateway_console.models import AdminToken
from tests.support.api import ApiClient, events

pytestmark = pytest.mark.django_db


def _run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_admin_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_a_working_read_write_token_once(org, key):
    out, err = _run("--org", "acme", "--name", "terraform")

    plaintext = out.strip()
    token = AdminToken.objects.get(org=org)
    assert admin_tokens.active_token(plaintext) == token
    assert (token.name, token.read_only, token.created_by) == ("terraform", False, None)
    assert plaintext not in err
    assert token.preview in err
    (event,) = events(org, "admin_token.created")
    assert (event.actor_type, event.actor_label) == ("system", "create_admin_token command")
    assert plaintext not in str(event.data)
    assert ApiClient(plaintext).post(f"/api/v1/keys/{key.pk}/disable").status_code == 200


def test_it_creates_a_read_only_token(org, key):
    out, _ = _run("--org", "acme", "--name", "report", "--read-only")

    assert AdminToken.objects.get(org=org).read_only
    assert ApiClient(out.strip()).post(f"/api/v1/keys/{key.pk}/disable").status_code == 403


def test_an_unknown_org_is_an_error(org):
    with pytest.raises(CommandError, match="no organisation"):
        _run("--org", "nope", "--name", "x")

    assert not AdminToken.objects.exists()


def test_a_blank_name_is_an_error(org):
    with pytest.raises(CommandError, match="name"):
        _run("--org", "acme", "--name", "  ")

    assert not AdminToken.objects.exists()
