"""Found by tests/config/test_fuzz_gateway.py: a usage event whose model holds a NUL character
reached PostgreSQL, which holds no NUL in text: a database error, 503 console_unavailable for
the whole batch, which a gateway would retry for ever. The event is refused (422, field
`model`) and the rest of its batch is recorded."""

import pytest

from billing.usage.models import UsageEvent
from tests.support.gateway import usage_event

pytestmark = pytest.mark.django_db


def test_one_event_with_a_nul_in_its_model_is_refused(post_usage, key):
    response = post_usage(usage_event(key, model="gpt-4o-mini\x00"))

    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_usage_event", "model")
    assert not UsageEvent.objects.exists()


def test_the_rest_of_its_batch_is_recorded(post_usage, key):
    good = usage_event(key)

    response = post_usage({"events": [usage_event(key, model="\x00"), good]})

    assert response.status_code == 200
    body = response.json()
    assert (body["recorded"], body["rejected"]) == (1, 1)
    assert body["results"][0]["error"]["field"] == "model"
    assert list(UsageEvent.objects.values_list("request_id", flat=True)) == [good["request_id"]]
