"""The console's OpenAPI document describes the gateway's endpoints too: authorize and usage,
under the gateway token's security scheme, with every denial code authorize can answer; and
what they answer fits what the document says."""

import re
from pathlib import Path

import pytest

from config.gateway_openapi import (
    DENIALS,
    Authorized,
    UsageBatchResult,
    UsageOutcome,
)
from gateway_console.api_schemas import ErrorOut
from tests.support.gateway import usage_event

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
# Where authorize's answers come from: its checks, the holds it places, the gateway token.
AUTHORIZE_SOURCES = [
    *(str(path.relative_to(ROOT)) for path in sorted((ROOT / "keys/authorize").glob("*.py"))),
    "billing/limits/holds.py",
    "gateway_console/contract.py",
]


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_authorize_and_usage_are_in_the_document_under_the_gateway_token(document):
    scheme = document["components"]["securitySchemes"]["GatewayToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Gateway-Token")
    for path in ("/api/v1/gateway/authorize", "/api/v1/gateway/usage"):
        operation = document["paths"][path]["post"]
        assert operation["security"] == [{"GatewayToken": []}]
        assert operation["tags"] == ["gateway"]


def test_every_denial_code_is_documented_under_its_status(document):
    responses = document["paths"]["/api/v1/gateway/authorize"]["post"]["responses"]
    for denial in DENIALS:
        assert f"`{denial.code}`" in responses[str(denial.status)]["description"], denial
    allowed = responses["200"]
    assert allowed["content"]["application/json"]["schema"]["$ref"].endswith("/Authorized")
    assert {"X-Gateway-Request-Id", "X-Key-Id", "X-Gateway-Model"} <= set(allowed["headers"])


def test_the_denial_table_names_exactly_the_codes_authorize_answers():
    raised = set()
    for source in AUTHORIZE_SOURCES:
        text = (ROOT / source).read_text()
        raised |= set(re.findall(r'ContractError\(\s*"([a-z_]+)"', text))
        raised |= set(re.findall(r'_quota\(\s*"([a-z_]+)"', text))
        # holds.py names the cap's code in its list of caps to reserve on.
        raised |= set(re.findall(r'"([a-z_]+_quota_exceeded)"', text))

    assert raised == {d.code for d in DENIALS}


def test_an_allowed_answer_fits_its_schema(authorize, key_and_secret):
    _, secret = key_and_secret

    Authorized.model_validate(authorize(secret).json())


def test_a_denial_fits_its_schema(authorize):
    ErrorOut.model_validate(authorize("sk-gw-not-a-key").json())


def test_usage_answers_fit_their_schemas(post_usage, key_and_secret):
    key, _ = key_and_secret
    event = usage_event(key)

    UsageOutcome.model_validate(post_usage(event).json())
    UsageBatchResult.model_validate(post_usage({"events": [event, {"request_id": "x"}]}).json())
    ErrorOut.model_validate(post_usage({"request_id": "bad id!"}).json())
