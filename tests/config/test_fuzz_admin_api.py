"""Issue 13, "no 500 on any input": the admin API driven statefully. Schemathesis 4 infers the
links between operations from the OpenAPI document (a created key's or team's `id` into
`/keys/{key_id}` and `/teams/{team_id}`, a list's ids into reads, changes and deletions, an
invitation's into resend and withdraw, a member's into role changes and removal), so that
sequences such as create → read → update → rotate/disable → delete run on real objects of an
org with keys, teams, members, invitations, usage and audit events. Every answer: never a 5xx,
and status, content type and body as the document says.

tests/config/test_openapi_conformance.py runs every operation alone, with real ids.
Bounded to run in CI: a fixed number of scenarios and steps, derandomized."""

from datetime import timedelta

import pytest
import schemathesis
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings

from accounts.models import Invitation
from config.wsgi import application
from gateway_console.models import Role
from tests.config.test_openapi_conformance import (  # noqa: F401 (fixtures)
    CHECKS,
    keep_the_test_transaction,
    org_with_data,
)
from tests.factories import MembershipFactory
from tests.support.gateway import GATEWAY_TOKEN

pytestmark = pytest.mark.django_db

SCENARIOS = 80
STEPS = 10


def _link_a_created_key_to_its_operations(document: dict) -> None:
    """Schemathesis infers no link from POST /keys (its answer, with the key, is a schema of
    its own): the ones a script follows, written out."""
    created = document["paths"]["/api/v1/keys"]["post"]["responses"]["201"]
    links = created.setdefault("links", {})
    for method, path in [
        ("get", "/api/v1/keys/{key_id}"),
        ("patch", "/api/v1/keys/{key_id}"),
        ("delete", "/api/v1/keys/{key_id}"),
        ("post", "/api/v1/keys/{key_id}/rotate"),
        ("post", "/api/v1/keys/{key_id}/disable"),
        ("post", "/api/v1/keys/{key_id}/enable"),
        ("get", "/api/v1/keys/{key_id}/usage"),
    ]:
        pointer = path.replace("~", "~0").replace("/", "~1")
        links[f"Created_{method}_{path.rsplit('/', 1)[-1].strip('{}')}"] = {
            "operationRef": f"#/paths/{pointer}/{method}",
            "parameters": {"path.key_id": "$response.body#/id"},
        }


@pytest.fixture
def people(org, team):
    member = MembershipFactory(org=org, role=Role.MEMBER, user__email="carol@example.com")
    member.teams.set([team])
    MembershipFactory(org=org, role=Role.ADMIN, user__email="dave@example.com")
    Invitation.objects.create(
        org=org,
        email="invited@example.com",
        role=Role.MEMBER,
        expires_at=timezone.now() + timedelta(days=7),
    )


def test_sequences_of_operations_answer_as_the_schema_says(
    org_with_data,  # noqa: F811
    people,
    token_and_secret,
    keep_the_test_transaction,  # noqa: F811
    settings_,
):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    _link_a_created_key_to_its_operations(schema.raw_schema)
    # The token below, not generated Authorization headers (401s: the per-operation run and
    # the admin API's own tests cover those).
    schema.config.generation.update(with_security_parameters=False)
    workflow = schema.as_state_machine()
    headers = {"Authorization": f"Bearer {token_and_secret[1]}", "X-Gateway-Token": GATEWAY_TOKEN}
    # The inferred links reach the keys', teams', members' and invitations' operations.
    rules = " ".join(name for name in dir(workflow) if not name.startswith("_"))
    for target in ("POST_api_v1_keys___201_Created_post_rotate", "DELETE_api_v1_teams_team_id_"):
        assert target in rules
    for target in ("PATCH_api_v1_members_member_id_", "POST_api_v1_invitations_invitation_id"):
        assert target in rules

    class AdminApiWorkflow(workflow):
        # Every scenario starts from the same data: what one scenario creates, changes or
        # deletes is rolled back after it, so that Hypothesis, replaying a scenario, meets the
        # same answers (else it reports its own generation as flaky).
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    AdminApiWorkflow.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )


@pytest.fixture
def settings_(settings):
    """The gateway's token, for the links that lead into usage."""
    settings.GATEWAY_TOKENS = [GATEWAY_TOKEN]
    return settings
