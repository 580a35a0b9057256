"""docs/contract.md section 4: the admin API takes `Authorization: Bearer sk-admin-…`. A malformed
token or a bad checksum is refused without a database query; an unknown or revoked token is a
401 `invalid_admin_token`; a read-only token may read but gets 403 `admin_token_read_only` on
every change, and nothing changes."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit import Actor
from audit.models import AuditEvent
from gateway_console import admin_tokens, secret
from gateway_console.admin_tokens import revoke_admin_token
from gateway_console.models import AdminToken
from keys.models import Key
from tests.factories import make_key
from tests.support.api import ApiClient, error_of, make_token

pytestmark = pytest.mark.django_db


def _well_formed_unknown_token() -> str:
    return secret.new_secret(prefix=admin_tokens.PREFIX)


def _bad_checksum(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


def test_a_read_write_token_lists_the_orgs_keys(api, key):
    response = api.get("/api/v1/keys")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["data"]] == [str(key.pk)]


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token sk-admin-x"],
    ids=["none", "empty", "bearer-alone", "bearer-blank", "basic", "other-scheme"],
)
def test_a_missing_or_foreign_authorization_header_gets_401(client, header):
    headers = {} if header is None else {"Authorization": header}

    response = client.get("/api/v1/keys", headers=headers)

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_admin_token"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "token",
    [
        "sk-admin-short",
        "sk-gw-" + "A" * 46,
        "sk-admin-" + "!" * 46,
        "x" * 5000,
        "sk-admin-" + "A" * 46,
    ],
    ids=["short", "a-key-not-a-token", "not-base62", "huge", "bad-checksum"],
)
def test_a_malformed_token_is_refused_without_a_database_query(token, django_assert_num_queries):
    client = ApiClient(token)

    with django_assert_num_queries(0):
        response = client.get("/api/v1/keys")

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_admin_token"


def test_a_real_token_with_one_character_changed_is_refused_without_a_query(
    token_and_secret, django_assert_num_queries
):
    client = ApiClient(_bad_checksum(token_and_secret[1]))

    with django_assert_num_queries(0):
        response = client.post("/api/v1/keys", {"name": "x"})

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_admin_token"


def test_an_unknown_well_formed_token_gets_401(org):
    response = ApiClient(_well_formed_unknown_token()).get("/api/v1/keys")

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_admin_token"


def test_a_revoked_token_gets_401(org, api, admin_token, key):
    assert api.get("/api/v1/keys").status_code == 200

    revoke_admin_token(token=admin_token, actor=Actor.system("tests"))
    response = api.get(f"/api/v1/keys/{key.pk}")

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_admin_token"
    assert api.post(f"/api/v1/keys/{key.pk}/disable").status_code == 401
    assert Key.objects.get(pk=key.pk).status == "active"


def test_a_key_is_not_an_admin_token(org, key_and_secret):
    response = ApiClient(key_and_secret[1]).get("/api/v1/keys")

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_admin_token"


def test_a_good_token_costs_one_query_to_check(token_and_secret, django_assert_num_queries):
    active = admin_tokens.active_token(token_and_secret[1])  # notes the first use
    assert active is not None

    with django_assert_num_queries(1):
        assert admin_tokens.active_token(token_and_secret[1]) == active


def test_last_used_at_is_written_at_most_once_a_minute(api, admin_token):
    assert admin_token.last_used_at is None

    api.get("/api/v1/keys")
    first = AdminToken.objects.get(pk=admin_token.pk).last_used_at
    assert first is not None

    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/keys")
    assert AdminToken.objects.get(pk=admin_token.pk).last_used_at == first
    assert not any(
        "UPDATE" in q["sql"] and "admintoken" in q["sql"].lower() for q in queries.captured_queries
    )

    AdminToken.objects.filter(pk=admin_token.pk).update(
        last_used_at=timezone.now() - timedelta(minutes=2)
    )
    api.get("/api/v1/keys")
    assert AdminToken.objects.get(pk=admin_token.pk).last_used_at > first


# A read-only token


def test_a_read_only_token_reads_everything(read_only_api, key):
    for path in (
        "/api/v1/keys",
        f"/api/v1/keys/{key.pk}",
        f"/api/v1/keys/{key.pk}/usage",
        "/api/v1/audit-events",
    ):
        assert read_only_api.get(path).status_code == 200, path


def _mutations(key_id, team_id):
    return [
        ("post", "/api/v1/keys", {"name": "sneaky"}),
        ("patch", f"/api/v1/keys/{key_id}", {"name": "renamed"}),
        ("delete", f"/api/v1/keys/{key_id}", None),
        ("post", f"/api/v1/keys/{key_id}/rotate", {"grace_hours": 1}),
        ("post", f"/api/v1/keys/{key_id}/disable", None),
        ("post", f"/api/v1/keys/{key_id}/enable", None),
        ("post", "/api/v1/keys/batch", {"action": "disable", "keys": [str(key_id)]}),
        ("post", "/api/v1/keys/batch", {"action": "delete", "keys": [str(key_id)]}),
        ("post", "/api/v1/keys/batch", {"action": "move", "keys": [str(key_id)], "team": None}),
        # Even a request that would not validate is refused for the token first.
        ("post", "/api/v1/keys", {"name": ""}),
    ]


MUTATION_IDS = [
    "create",
    "update",
    "delete",
    "rotate",
    "disable",
    "enable",
    "batch-disable",
    "batch-delete",
    "batch-move",
    "invalid-create",
]


@pytest.mark.parametrize("index", range(len(MUTATION_IDS)), ids=MUTATION_IDS)
def test_a_read_only_token_gets_403_on_every_change_and_nothing_changes(
    index, read_only_api, org, key
):
    method, path, data = _mutations(key.pk, key.team_id)[index]
    before_keys = list(Key.objects.filter(org=org).values())
    before_events = AuditEvent.objects.filter(org=org).count()

    call = getattr(read_only_api, method)
    response = call(path, data) if method in ("post", "patch") else call(path)

    assert response.status_code == 403
    assert error_of(response)["code"] == "admin_token_read_only"
    assert list(Key.objects.filter(org=org).values()) == before_keys
    assert AuditEvent.objects.filter(org=org).count() == before_events


def test_a_disabled_key_stays_disabled_for_a_read_only_enable(read_only_api, org, key):
    make_key(org, name="other")
    Key.objects.filter(pk=key.pk).update(status="disabled")

    response = read_only_api.post(f"/api/v1/keys/{key.pk}/enable")

    assert response.status_code == 403
    assert Key.objects.get(pk=key.pk).status == "disabled"


def test_tokens_of_one_org_are_not_tokens_of_another(org, other_org, other_org_key):
    _, plaintext = make_token(org)

    response = ApiClient(plaintext).get(f"/api/v1/keys/{other_org_key.pk}")

    assert response.status_code == 404
