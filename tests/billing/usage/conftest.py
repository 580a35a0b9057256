"""Usage recorded the way the gateway reports it (record_batch), so that rollups fill as in
production; prices, plan, a funded wallet and the gateway's endpoints come from
tests.support.gateway."""

from datetime import UTC, datetime

import pytest

from billing.usage.services import record_batch
from tests.support.gateway import *  # noqa: F403 (its fixtures: __all__ there)

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def event(
    key, request_id, at, *, model="gpt-4o-mini", input_tokens=1000, output_tokens=200, status=200
):
    return {
        "request_id": request_id,
        "key_id": str(key.pk),
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "status_code": status,
        "latency_ms": 120,
        "occurred_at": at.isoformat(),
    }


def record(*events):
    return record_batch(list(events), now=NOW)


@pytest.fixture
def frozen_now(monkeypatch):
    """The pages' "now" (usage_range) at NOW."""
    monkeypatch.setattr("billing.usage.views.timezone.now", lambda: NOW)
    return NOW
