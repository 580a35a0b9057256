"""Found by tests/config/test_fuzz_gateway.py: a model name with a NUL character (in the body
or X-Gateway-Model) reached PostgreSQL, which holds no NUL in text: a database error, answered
503 console_unavailable as if the console were down. No priced model has such a name: 403
model_not_allowed, with or without a hold."""

import pytest

from billing.limits.models import Hold
from tests.factories import make_key
from tests.support.gateway import assert_denied

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("reports_usage", [False, True])
@pytest.mark.parametrize("where", ["body", "header"])
def test_a_model_with_a_nul_is_not_allowed(authorize, org, where, reports_usage):
    _, secret = make_key(org, name="nul")
    model = "gpt-4o-mini\x00"
    sent = {"model": None, "body": {"model": model}} if where == "body" else {"model": model}

    response = authorize(secret, reports_usage=reports_usage, **sent)

    assert_denied(response, 403, "model_not_allowed")
    assert not Hold.objects.exists()


def test_a_scoped_key_refuses_it_as_outside_its_scope(authorize, org):
    _, secret = make_key(org, name="scoped", model_scope=("gpt-4o-mini",))

    response = authorize(secret, model="gpt-4o-mini\x00")

    error = assert_denied(response, 403, "model_not_allowed")
    assert "may not call" in error["message"]
