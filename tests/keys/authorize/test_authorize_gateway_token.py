"""The gateway proves itself with X-Gateway-Token, one of GATEWAY_TOKENS (docs/contract.md
section 2). Missing or wrong: 403 gateway_unauthorized, before the client's key is looked at."""

import pytest

from config.environment import env_list
from tests.support.gateway import (
    GATEWAY_TOKEN,
    OLD_GATEWAY_TOKEN,
    assert_denied,
    call_authorize,
)

pytestmark = pytest.mark.django_db


def test_a_request_without_a_gateway_token_is_refused_with_403(authorize, key_and_secret):
    _, secret = key_and_secret

    response = authorize(secret, token=None)

    assert_denied(response, 403, "gateway_unauthorized")


@pytest.mark.parametrize(
    "token",
    [
        "wrong-token",
        "",
        GATEWAY_TOKEN + "x",
        GATEWAY_TOKEN[:-1],
        f"{OLD_GATEWAY_TOKEN},{GATEWAY_TOKEN}",
        GATEWAY_TOKEN.upper(),
    ],
)
def test_a_wrong_gateway_token_is_refused_with_403(authorize, key_and_secret, token):
    _, secret = key_and_secret

    response = authorize(secret, token=token)

    assert_denied(response, 403, "gateway_unauthorized")


def test_a_wrong_gateway_token_is_refused_even_for_a_missing_client_key(authorize):
    response = authorize(None, token="wrong-token")

    assert_denied(response, 403, "gateway_unauthorized")


def test_the_wrong_gateway_token_is_refused_without_a_database_query(
    authorize, key_and_secret, django_assert_num_queries
):
    _, secret = key_and_secret

    with django_assert_num_queries(0):
        response = authorize(secret, token="wrong-token")

    assert response.status_code == 403


@pytest.mark.parametrize("token", [OLD_GATEWAY_TOKEN, GATEWAY_TOKEN])
def test_every_token_of_the_list_is_accepted_during_a_rotation(authorize, key_and_secret, token):
    key, secret = key_and_secret

    response = authorize(secret, token=token)

    assert response.status_code == 200
    assert response.json()["key"]["id"] == str(key.pk)


def test_no_gateway_token_is_accepted_when_none_is_configured(settings, client, key_and_secret):
    settings.GATEWAY_TOKENS = []
    _, secret = key_and_secret

    for token in (GATEWAY_TOKEN, ""):
        assert_denied(call_authorize(client, secret, token=token), 403, "gateway_unauthorized")


def test_the_setting_reads_a_comma_separated_list_and_its_second_token_works(
    monkeypatch, settings, client, key_and_secret
):
    monkeypatch.setenv("GATEWAY_TOKENS", f" {OLD_GATEWAY_TOKEN} , {GATEWAY_TOKEN} ,")
    settings.GATEWAY_TOKENS = env_list("GATEWAY_TOKENS")
    _, secret = key_and_secret

    response = call_authorize(client, secret, token=GATEWAY_TOKEN)

    assert settings.GATEWAY_TOKENS == [OLD_GATEWAY_TOKEN, GATEWAY_TOKEN]
    assert response.status_code == 200
