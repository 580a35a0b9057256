"""Found by tests/config/test_fuzz_gateway.py: a JSON body nested a few hundred levels deep
parses, but counting its prompt's bytes recursively overflowed Python's stack (a 500). The
count is a loop now: such a body is held like any other, by the bytes of its strings."""

import pytest

from billing.limits.models import Hold
from tests.factories import make_key
from tests.support.gateway import expected_cost_micros

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("opening, closing", [('{"a": ', "}"), ("[", "]")])
def test_a_deeply_nested_body_is_held_by_its_strings(authorize, org, opening, closing):
    _, secret = make_key(org, name="deep")
    depth = 850  # json.loads parses it; a recursive walk of it from authorize did not
    messages = opening * depth + '"xxxx"' + closing * depth
    body = '{"model": "gpt-4o-mini", "max_tokens": 10, "messages": ' + messages + "}"

    response = authorize(secret, model=None, reports_usage=True, body=body)

    assert response.status_code == 200, response.content[:300]
    hold = Hold.objects.get(request_id=response.json()["request_id"])
    assert hold.amount_micros == expected_cost_micros("gpt-4o-mini", 4, 10)


def test_models_inside_the_body_still_do_not_count(authorize, org):
    _, secret = make_key(org, name="models")
    body = {"model": "gpt-4o-mini", "max_tokens": 1, "tools": [{"model": "x" * 500, "d": "yy"}]}

    response = authorize(secret, model=None, reports_usage=True, body=body)

    hold = Hold.objects.get(request_id=response.json()["request_id"])
    assert hold.amount_micros == expected_cost_micros("gpt-4o-mini", 2, 1)
