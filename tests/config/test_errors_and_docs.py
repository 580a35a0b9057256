"""Every error of the admin API has the contract's body `{"error": {"type", "code", "message"}}`
(docs/contract.md sections 2 and 4), ninja's own validation errors, 404s and 405s included; the
OpenAPI document and its docs page are served from the code."""

import pytest

from tests.support.api import error_of

pytestmark = pytest.mark.django_db


def test_a_validation_error_names_the_field(api):
    response = api.post("/api/v1/keys", {"name": "x", "limits": {"rpm_limit": 0}})

    assert response.status_code == 422
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_request"
    assert error["param"] == "limits.rpm_limit"


def test_a_missing_required_field_is_a_422(api):
    response = api.post("/api/v1/keys", {})

    assert response.status_code == 422
    assert error_of(response)["param"] == "name"


def test_an_unknown_field_is_a_422(api):
    response = api.post("/api/v1/keys", {"name": "x", "colour": "blue"})

    assert response.status_code == 422
    assert error_of(response)["param"] == "colour"


def test_a_bad_query_parameter_is_a_422(api):
    response = api.get("/api/v1/keys?limit=0")

    assert response.status_code == 422
    assert error_of(response)["param"] == "limit"


def test_a_malformed_key_id_is_a_422(api):
    response = api.get("/api/v1/keys/not-a-uuid")

    assert response.status_code == 422
    assert error_of(response)["param"] == "key_id"


def test_a_body_that_is_not_json_is_a_400(api):
    response = api.generic("POST", "/api/v1/keys", "{nope", content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_an_unknown_key_is_a_404_in_the_contract_body(api):
    response = api.get("/api/v1/keys/00000000-0000-4000-8000-000000000000")

    assert response.status_code == 404
    error = error_of(response)
    assert error == {"type": "not_found_error", "code": "not_found", "message": "No such key."}


def test_an_unknown_path_is_a_json_404(api):
    for method in ("get", "post"):
        response = getattr(api, method)("/api/v1/no-such-thing")
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


def test_a_method_a_path_does_not_have_is_a_json_405(api, key):
    response = api.put(f"/api/v1/keys/{key.pk}")

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert set(response["Allow"].split(", ")) == {"GET", "PATCH", "DELETE"}


def test_the_gateway_paths_are_not_taken_by_the_admin_api(client):
    response = client.post("/api/v1/gateway/authorize")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "gateway_unauthorized"


def test_the_openapi_document_describes_every_operation(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    operations = {
        (method.upper(), path) for path, methods in document["paths"].items() for method in methods
    }
    assert operations == {
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("POST", "/api/v1/keys/batch"),
        ("GET", "/api/v1/keys/{key_id}"),
        ("PATCH", "/api/v1/keys/{key_id}"),
        ("DELETE", "/api/v1/keys/{key_id}"),
        ("POST", "/api/v1/keys/{key_id}/rotate"),
        ("POST", "/api/v1/keys/{key_id}/disable"),
        ("POST", "/api/v1/keys/{key_id}/enable"),
        ("GET", "/api/v1/keys/{key_id}/usage"),
        ("GET", "/api/v1/requests/{request_id}"),
        ("GET", "/api/v1/audit-events"),
        ("GET", "/api/v1/teams"),
        ("POST", "/api/v1/teams"),
        ("GET", "/api/v1/teams/{team_id}"),
        ("PATCH", "/api/v1/teams/{team_id}"),
        ("DELETE", "/api/v1/teams/{team_id}"),
        ("GET", "/api/v1/members"),
        ("GET", "/api/v1/admin-tokens"),
        ("PATCH", "/api/v1/members/{member_id}"),
        ("DELETE", "/api/v1/members/{member_id}"),
        ("GET", "/api/v1/invitations"),
        ("POST", "/api/v1/invitations"),
        ("POST", "/api/v1/invitations/{invitation_id}/resend"),
        ("DELETE", "/api/v1/invitations/{invitation_id}"),
        ("GET", "/api/v1/admin-tokens/{token_id}"),
        ("GET", "/api/v1/plan"),
        ("GET", "/api/v1/prices"),
        ("POST", "/api/v1/gateway/authorize"),
        ("POST", "/api/v1/gateway/usage"),
    }
    assert document["components"]["securitySchemes"]["AdminTokenAuth"]["scheme"] == "bearer"
    key_fields = set(document["components"]["schemas"]["KeyOut"]["properties"])
    assert key_fields == {
        "id",
        "name",
        "preview",
        "team",
        "user_id",
        "status",
        "type",
        "profile",
        "model_scope",
        "allowed_ips",
        "rotate_every_days",
        "rotation_overlap_hours",
        "rotation_due_at",
        "limits",
        "expires_at",
        "created_at",
        "updated_at",
        "last_used_at",
    }
    token_fields = set(document["components"]["schemas"]["AdminTokenOut"]["properties"])
    assert token_fields == {
        "id",
        "name",
        "preview",
        "read_only",
        "status",
        "created_at",
        "created_by",
        "expires_at",
        "last_used_at",
        "revoked_at",
    }
    member = document["components"]["schemas"]["MemberOut"]["properties"]
    assert "id" in member
    error = document["paths"]["/api/v1/keys"]["post"]["responses"]["403"]
    assert error["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_the_docs_page_is_served_without_a_cdn(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/openapi.json" in html
    assert "cdn" not in html.lower()


def test_text_with_a_nul_character_is_a_422_on_every_database(api, key):
    calls = [
        api.post("/api/v1/keys", {"name": "bad\u0000name"}),
        api.post("/api/v1/keys", {"name": "x", "model_scope": ["a\u0000"]}),
        api.get("/api/v1/keys", {"search": "a\x00b"}),
        api.get("/api/v1/audit-events", {"actor": "\x00"}),
        api.get("/api/v1/requests/req%00"),
    ]

    for response in calls:
        assert response.status_code == 422, response.content
        assert error_of(response)["code"] == "invalid_request"


def test_a_create_without_a_body_says_it_needs_one(api):
    response = api.post("/api/v1/keys")

    assert response.status_code == 422
    assert "JSON body" in error_of(response)["message"]


# Django's own limits on what it reads (DATA_UPLOAD_MAX_MEMORY_SIZE, DATA_UPLOAD_MAX_NUMBER_FIELDS)
# refuse a request before the API's code runs; the answer is still the contract's.

OVER_THE_BODY_LIMIT = 2_621_440 + 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/keys"),
        ("POST", "/api/v1/keys/batch"),
        ("PATCH", "/api/v1/keys/{key}"),
        ("POST", "/api/v1/keys/{key}/rotate"),
        ("POST", "/api/v1/teams"),
    ],
)
def test_a_body_over_the_upload_limit_is_a_413_request_too_large(api, key, method, path):
    body = '{"name": "' + "x" * OVER_THE_BODY_LIMIT + '"}'

    response = api.generic(method, path.format(key=key.pk), body, content_type="application/json")

    assert response.status_code == 413
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "request_too_large")
    assert "2,621,440 bytes" in error["message"]


def test_a_body_just_under_the_upload_limit_is_read(api):
    body = '{"name": "' + "x" * (2_621_440 - 20) + '"}'

    response = api.generic("POST", "/api/v1/keys", body, content_type="application/json")

    assert response.status_code == 422
    assert error_of(response)["param"] == "name"


@pytest.mark.parametrize("path", ["/api/v1/keys", "/api/v1/audit-events", "/api/v1/teams"])
def test_over_a_thousand_query_parameters_are_a_400_too_many_parameters(api, path):
    query = "&".join(f"p{n}=1" for n in range(1_001))

    response = api.get(f"{path}?{query}")

    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "too_many_parameters")


def test_the_openapi_document_lists_the_413_of_every_change(client):
    document = client.get("/api/v1/openapi.json").json()

    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if method in ("post", "patch") and not path.startswith("/api/v1/gateway/"):
                assert "413" in operation["responses"], (method, path)
