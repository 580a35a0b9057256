"""Found by tests/config/test_fuzz_gateway.py: a body nested deeper than Python's JSON parser
goes raised RecursionError, a 500. It is a body that is not JSON: 400 `invalid_json`, nothing
recorded."""

import pytest

from billing.usage.models import UsageEvent
from tests.support.gateway import assert_denied

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "body",
    [
        '{"a": ' * 5000 + "1" + "}" * 5000,
        '{"events": [' + "[" * 5000 + "]" * 5000 + "]}",
    ],
    ids=["event", "batch"],
)
def test_json_nested_past_the_parser_is_invalid_json(post_usage, body):
    response = post_usage(body)

    assert_denied(response, 400, "invalid_json")
    assert not UsageEvent.objects.exists()
