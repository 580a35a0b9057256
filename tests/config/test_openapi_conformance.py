"""Schemathesis against the generated OpenAPI document: generated calls of every operation,
with a read-write token of an org that has keys, teams, requests and audit events, never get a
5xx and never get an answer (status, content type, body) that the document does not describe."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks

from billing.usage.models import UsageEvent
from config.wsgi import application
from tests.factories import TeamFactory, make_key

pytestmark = pytest.mark.django_db

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 25
ORDER = {"GET": 0, "POST": 1, "PATCH": 1, "DELETE": 2}


@pytest.fixture
def keep_the_test_transaction():
    """Schemathesis calls the WSGI application itself, whose request signals close the
    database connection (and with it the test's transaction) on PostgreSQL. Django's test
    client disconnects them for the same reason."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def org_with_data(org, team, token_and_secret):
    keys = [make_key(org, name=f"key-{n}", team=team if n % 2 else None)[0] for n in range(4)]
    teams = [team, TeamFactory(org=org, name="Research"), TeamFactory(org=org, name="Empty")]
    now = timezone.now()
    for n, key in enumerate(keys):
        UsageEvent.objects.create(
            org=org,
            request_id=f"req_{n}",
            key=key,
            team=key.team,
            model="gpt-4o-mini",
            input_tokens=100 * n,
            output_tokens=10 * n,
            cost_micros=1234 * n,
            status_code=200,
            occurred_at=now,
        )
    return keys, teams


def test_every_operation_answers_as_its_schema_says(
    org_with_data, token_and_secret, keep_the_test_transaction
):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    headers = {"Authorization": f"Bearer {token_and_secret[1]}"}
    keys, teams = org_with_data
    key_ids = st.sampled_from([str(key.pk) for key in keys])
    request_ids = st.sampled_from(["req_0", "req_1", "req_2", "req_3", "req_unknown"])
    # Reads first and deletions last, so that most calls find live keys to work on.
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: (ORDER.get(op.method.upper(), 1), op.path.endswith("/batch")),
    )
    assert len(operations) == 30
    team_ids = st.sampled_from([str(team.pk) for team in teams])

    for operation in operations:
        # Mostly real ids, so that the operations do their work rather than answer 404.
        @given(
            case=operation.as_strategy(),
            key_id=key_ids,
            batch=st.lists(key_ids, min_size=1, max_size=3),
            request_id=request_ids,
            team_id=team_ids,
        )
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case, key_id, batch, request_id, team_id):
            if "key_id" in (case.path_parameters or {}):
                case.path_parameters["key_id"] = key_id
            if "team_id" in (case.path_parameters or {}):
                case.path_parameters["team_id"] = team_id
            if "request_id" in (case.path_parameters or {}):
                case.path_parameters["request_id"] = request_id
            if operation.path.endswith("/batch") and isinstance(case.body, dict):
                case.body["keys"] = batch
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        call()
