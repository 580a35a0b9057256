"""The client's key is read the way clients send it, first match wins (docs/contract.md section 2):
Authorization: Bearer, X-Api-Key, x-goog-api-key, ?key= on the URL or inside the original URI
the gateway forwards. Any HTTP method is accepted."""

import pytest

from tests.factories import make_key
from tests.support.gateway import assert_denied

pytestmark = pytest.mark.django_db


def _allowed_for(response, key) -> None:
    assert response.status_code == 200, response.content
    assert response["X-Key-Id"] == str(key.pk)
    assert response.json()["key"]["id"] == str(key.pk)


def test_the_key_is_read_from_authorization_bearer(authorize, key_and_secret):
    key, secret = key_and_secret

    response = authorize(headers={"Authorization": f"Bearer {secret}"})

    _allowed_for(response, key)


def test_the_bearer_scheme_is_case_insensitive(authorize, key_and_secret):
    key, secret = key_and_secret

    response = authorize(headers={"Authorization": f"bearer {secret}"})

    _allowed_for(response, key)


@pytest.mark.parametrize("header", ["X-Api-Key", "x-goog-api-key"])
def test_the_key_is_read_from_an_sdk_header(authorize, key_and_secret, header):
    key, secret = key_and_secret

    response = authorize(headers={header: secret})

    _allowed_for(response, key)


def test_the_key_is_read_from_the_key_query_parameter_of_the_authorize_url(
    authorize, key_and_secret
):
    key, secret = key_and_secret

    response = authorize(method="GET", query=f"?key={secret}")

    _allowed_for(response, key)


@pytest.mark.parametrize("header", ["X-Forwarded-Uri", "X-Original-URI", "X-Envoy-Original-Path"])
def test_the_key_is_read_from_the_query_of_the_original_uri(authorize, key_and_secret, header):
    key, secret = key_and_secret

    response = authorize(
        headers={header: f"/v1beta/models/gemini-2.0-flash:generateContent?alt=sse&key={secret}"}
    )

    _allowed_for(response, key)


def test_a_request_without_any_key_is_refused(authorize, key_and_secret):
    response = authorize(headers={"X-Forwarded-Uri": "/v1/chat/completions?stream=true"})

    assert_denied(response, 401, "invalid_api_key")


def test_an_authorization_header_that_is_not_bearer_is_ignored(authorize, key_and_secret):
    key, secret = key_and_secret

    response = authorize(headers={"Authorization": "Basic dXNlcjpwYXNz", "X-Api-Key": secret})

    _allowed_for(response, key)


@pytest.fixture
def second_key_and_secret(org):
    return make_key(org, name="second-key")


def test_bearer_wins_over_x_api_key(authorize, key_and_secret, second_key_and_secret):
    key, secret = key_and_secret
    _, other_secret = second_key_and_secret

    response = authorize(headers={"Authorization": f"Bearer {secret}", "X-Api-Key": other_secret})

    _allowed_for(response, key)


def test_x_api_key_wins_over_x_goog_api_key(authorize, key_and_secret, second_key_and_secret):
    key, secret = key_and_secret
    _, other_secret = second_key_and_secret

    response = authorize(headers={"X-Api-Key": secret, "x-goog-api-key": other_secret})

    _allowed_for(response, key)


def test_a_header_wins_over_the_query_parameter(authorize, key_and_secret, second_key_and_secret):
    key, secret = key_and_secret
    _, other_secret = second_key_and_secret

    response = authorize(
        headers={
            "x-goog-api-key": secret,
            "X-Forwarded-Uri": f"/v1beta/models/gemini-2.0-flash:generateContent?key={other_secret}",
        },
        query=f"?key={other_secret}",
    )

    _allowed_for(response, key)


def test_the_authorize_url_query_wins_over_the_original_uri(
    authorize, key_and_secret, second_key_and_secret
):
    key, secret = key_and_secret
    _, other_secret = second_key_and_secret

    response = authorize(
        query=f"?key={secret}",
        headers={"X-Forwarded-Uri": f"/v1/models?key={other_secret}"},
    )

    _allowed_for(response, key)


def test_the_first_match_wins_even_when_it_is_not_a_valid_key(authorize, key_and_secret):
    _, secret = key_and_secret

    response = authorize(headers={"Authorization": "Bearer sk-gw-not-a-key", "X-Api-Key": secret})

    assert_denied(response, 401, "invalid_api_key")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_any_http_method_is_accepted(authorize, key_and_secret, method):
    key, secret = key_and_secret

    response = authorize(secret, method=method, model="gpt-4o-mini")

    _allowed_for(response, key)
    assert response.json()["model"] == "gpt-4o-mini"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_any_http_method_is_refused_the_same_way(authorize, key_and_secret, method):
    response = authorize("sk-gw-made-up", method=method)

    assert_denied(response, 401, "invalid_api_key")


def test_head_is_accepted_and_answers_with_the_status_only(authorize, key_and_secret):
    key, secret = key_and_secret

    allowed = authorize(secret, method="HEAD")
    refused = authorize("sk-gw-made-up", method="HEAD")

    assert allowed.status_code == 200
    assert allowed["X-Key-Id"] == str(key.pk)
    assert refused.status_code == 401
