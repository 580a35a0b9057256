"""Usage pages read the rollups in a fixed number of queries, however many keys and events."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.billing.usage.conftest import event, record
from tests.factories import make_key

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


def _fill(org, team, keys: int, events: int):
    made = [make_key(org, name=f"k{i}", team=team)[0] for i in range(keys)]
    batch = [
        event(
            made[i % keys],
            f"q{i}",
            AT - timedelta(minutes=7 * i),
            model=("gpt-4o", "gpt-4o-mini")[i % 2],
        )
        for i in range(events)
    ]
    for start in range(0, len(batch), 1000):
        record(*batch[start : start + 1000])
    return made[0]


def _counts(client, org, team, key, django_assert_max_num_queries):
    for url in (
        "/billing/usage/?range=30d",
        f"/billing/usage/teams/{team.pk}/?range=30d&granularity=hour",
        f"/keys/{key.pk}/usage/?range=30d",
        f"/keys/{key.pk}/requests/",
        f"/keys/{key.pk}/",
    ):
        with django_assert_max_num_queries(14):
            assert client.get(url).status_code == 200


@pytest.mark.parametrize(("keys", "events"), [(2, 10), (50, 500)])
def test_query_count_does_not_grow_with_the_data(
    admin_client, org, team, frozen_now, keys, events, django_assert_max_num_queries
):
    key = _fill(org, team, keys, events)
    _counts(admin_client, org, team, key, django_assert_max_num_queries)
