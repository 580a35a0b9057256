"""The key form's "What would this have refused?" (keys.preview): the last 30 days of hourly
rollups replayed against the limits in the form; read-only, one query of the rollups."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from billing.usage.models import UsageHourly
from keys import preview
from keys.models import Key
from keys.services import KeySettings
from tests.factories import make_key
from tests.keys.test_edit_key import _as_browser_sends

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _hour(key, at: datetime, *, requests=10, dollars="1", tokens=1000, model="gpt-4o-mini"):
    UsageHourly.objects.create(
        org=key.org,
        key=key,
        model=model,
        hour=at,
        requests=requests,
        cost_micros=int(Decimal(dollars) * 1_000_000),
        input_tokens=tokens,
    )


@pytest.fixture
def busy(org):
    """UTC org; three days of one $1, 10-request hour each (Nov 17, 18, 19 at 10:00)."""
    org.timezone = "UTC"
    org.save()
    key, _ = make_key(org, name="busy")
    for day in (17, 18, 19):
        _hour(key, datetime(2026, 11, day, 10, tzinfo=UTC))
    return key


def _replay(key, **limits):
    return preview.replay(key, KeySettings(name=key.name, **limits), now=NOW)


def test_no_limits_refuse_nothing(busy):
    result = _replay(busy)
    assert (result.requests, result.refused, result.days) == (30, 0, [])


def test_a_daily_cost_limit_refuses_the_share_past_it_each_day(busy):
    result = _replay(busy, cost_limit=Decimal("0.5"), limit_period="daily")

    assert result.refused == 15
    assert [(d.day, n) for d, n, _ in result.days] == [(17, 5), (18, 5), (19, 5)]
    assert result.days[0][2] == [("cost limit", 5)]


def test_a_monthly_cap_refuses_everything_once_spent(busy):
    result = _replay(busy, monthly_spend_cap=Decimal("1.5"))

    # $1 on the 17th passes, half of the 18th's hour, none of the 19th's.
    assert [(d.day, n) for d, n, _ in result.days] == [(18, 5), (19, 10)]


def test_spend_before_the_window_in_the_same_period_counts(busy):
    """The window starts on Oct 21; October's spend before it still fills October's cap."""
    _hour(busy, datetime(2026, 10, 10, 10, tzinfo=UTC), dollars="5")  # before the window
    _hour(busy, datetime(2026, 10, 25, 10, tzinfo=UTC))
    _hour(busy, datetime(2026, 10, 26, 10, tzinfo=UTC))

    result = _replay(busy, monthly_spend_cap=Decimal("5.5"))

    # October: half of the 25th past the cap, all of the 26th; November starts afresh.
    assert [(d.month, d.day, n) for d, n, _ in result.days] == [(10, 25, 5), (10, 26, 10)]
    assert result.requests == 50


def test_a_model_scope_refuses_other_models_exactly(busy):
    _hour(busy, datetime(2026, 11, 19, 11, tzinfo=UTC), requests=7, model="gpt-4o")

    result = _replay(busy, model_scope=("gpt-4o-mini",))

    assert result.refused == 7
    assert result.days[0][2] == [("outside the model scope", 7)]


def test_requests_per_minute_by_the_hours_average(org):
    key, _ = make_key(org, name="bursty")
    _hour(key, datetime(2026, 11, 19, 10, tzinfo=UTC), requests=700)

    result = _replay(key, rpm_limit=10)

    assert result.refused == 100  # 700 in an hour against 600


def test_usage_older_than_thirty_days_is_not_counted(org):
    key, _ = make_key(org, name="old")
    _hour(key, NOW - timedelta(days=31), requests=50)

    assert _replay(key, rpm_limit=1).requests == 0


def test_the_form_shows_the_preview_and_saves_nothing(admin_client, org, busy, time_machine):
    time_machine.move_to(NOW)
    url = reverse("keys:preview", args=[busy.pk])
    data = _as_browser_sends(admin_client.get(reverse("keys:edit", args=[busy.pk])))
    data.update(cost_limit="0.5", limit_period="daily")
    events = AuditEvent.objects.count()

    response = admin_client.post(url, data, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "would have refused about <strong>15</strong>, on 3 days" in html
    assert Key.objects.get(pk=busy.pk).cost_limit is None
    assert AuditEvent.objects.count() == events


def test_a_form_with_errors_asks_to_correct_them_first(admin_client, busy):
    data = _as_browser_sends(admin_client.get(reverse("keys:edit", args=[busy.pk])))
    data["rpm_limit"] = "-3"

    response = admin_client.post(reverse("keys:preview", args=[busy.pk]), data)

    assert "Correct the settings above first" in response.content.decode()
    assert 'id="field-rpm_limit"' in response.content.decode()


def test_the_preview_reads_the_rollups_once_however_many_hours(admin_client, busy):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    data = _as_browser_sends(admin_client.get(reverse("keys:edit", args=[busy.pk])))
    data.update(cost_limit="0.5", limit_period="daily")
    url = reverse("keys:preview", args=[busy.pk])

    def queries() -> int:
        with CaptureQueriesContext(connection) as seen:
            admin_client.post(url, data, headers={"HX-Request": "true"})
        return len(seen)

    few = queries()
    top = timezone.now().replace(minute=0, second=0, microsecond=0)
    for hours_ago in range(1, 200):
        _hour(busy, top - timedelta(hours=hours_ago), model="gpt-4o")
    assert queries() == few


def test_members_may_not_preview(member_client, busy):
    assert member_client.post(reverse("keys:preview", args=[busy.pk]), {}).status_code in (403, 404)


def test_a_budget_per_model_refuses_only_its_models_share_past_it(busy):
    for day in (17, 18, 19):
        _hour(busy, datetime(2026, 11, day, 11, tzinfo=UTC), model="gpt-4o", dollars="2")

    result = _replay(busy, model_budgets={"gpt-4o": Decimal("3")}, limit_period="monthly")

    # gpt-4o: $2 on the 17th passes, half of the 18th's, none of the 19th's; gpt-4o-mini free.
    assert (result.requests, result.refused) == (60, 15)
    assert [(d.day, n) for d, n, _ in result.days] == [(18, 5), (19, 10)]
    assert result.days[0][2] == [("budget of its model", 5)]


def test_budgets_count_before_the_key_wide_caps(busy):
    _hour(busy, datetime(2026, 11, 17, 11, tzinfo=UTC), model="gpt-4o", dollars="2")

    result = _replay(
        busy,
        model_budgets={"gpt-4o": Decimal("1")},
        cost_limit=Decimal("1.5"),
        limit_period="daily",
    )

    # The 17th: gpt-4o's $2 hour is cut to its $1 budget (5 of 10 refused); the mini's $1 at
    # 10:00 leaves $0.50 of the day's limit, half of the cut hour's $1: 2 of its 5 pass.
    assert result.days[0][2] == [("budget of its model", 5), ("cost limit", 3)]
