from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from audit import Actor
from audit.models import AuditEvent
from billing.limits.models import Counter, CounterPeriod
from keys import services as key_services
from keys.services import KeySettings
from tests.factories import TeamFactory, make_key

pytestmark = pytest.mark.django_db

LIMITS = {
    "spend_cap": "250.00",
    "token_limit": "5000000",
    "limit_period": "daily",
    "rpm_limit": "600",
}


def _edit(client, team, **data):
    """The team's settings form, sent with its name as it is and the limits above."""
    return client.post(reverse("team-edit", args=[team.pk]), {"name": team.name, **LIMITS, **data})


def test_admin_sets_team_limits_with_one_audit_event(admin_client, team):
    response = _edit(admin_client, team)

    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.spend_cap, team.token_limit, team.limit_period, team.rpm_limit) == (
        Decimal("250"),
        5_000_000,
        "daily",
        600,
    )
    event = AuditEvent.objects.get(org=team.org, action="team.updated")
    assert event.target_id == str(team.pk)
    assert event.changes["spend_cap"] == {"before": None, "after": "250.000000"}
    assert event.changes["limit_period"] == {"before": "monthly", "after": "daily"}


def test_saving_unchanged_limits_writes_no_event(admin_client, team):
    _edit(admin_client, team)
    _edit(admin_client, team)

    assert AuditEvent.objects.filter(action="team.updated").count() == 1


def test_bad_limits_are_shown_beside_the_field_and_change_nothing(admin_client, team):
    response = _edit(admin_client, team, spend_cap="-5", rpm_limit="zero")

    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"spend_cap", "rpm_limit"}
    assert 'id="field-spend_cap"' in response.content.decode()
    team.refresh_from_db()
    assert team.spend_cap is None
    assert not AuditEvent.objects.filter(action="team.updated").exists()


def test_changing_the_reset_period_closes_the_running_period_into_the_history(
    admin_client, team, org
):
    started = timezone.now() - timedelta(days=3)
    counter = Counter.objects.create(
        org=org,
        team=team,
        kind="limit",
        period_start=started,
        period_end=timezone.now() + timedelta(days=20),
        spend_micros=5_000_000,
        tokens=70,
    )

    _edit(admin_client, team)  # monthly -> daily

    closed = CounterPeriod.objects.get(counter=counter)
    counter.refresh_from_db()
    assert (closed.period_start, closed.spend_micros, closed.tokens) == (started, 5_000_000, 70)
    assert (
        closed.period_end == counter.period_start
    )  # the new period starts where the old one closed
    assert (counter.spend_micros, counter.tokens) == (0, 0)
    assert counter.period_end - counter.period_start <= timedelta(days=1)


def test_changing_a_keys_reset_period_closes_only_its_limit_counter(org):
    key, _ = make_key(org, name="k", cost_limit=Decimal("10"), limit_period="monthly")
    counter = Counter.objects.create(
        org=org,
        key=key,
        kind="limit",
        period_start=timezone.now() - timedelta(days=2),
        period_end=timezone.now() + timedelta(days=20),
        spend_micros=1,
    )
    month = Counter.objects.create(
        org=org,
        key=key,
        kind="month",
        period_start=timezone.now(),
        period_end=timezone.now() + timedelta(days=20),
        spend_micros=1,
    )

    key_services.update_key(
        key=key,
        actor=Actor.system("tests"),
        settings_=KeySettings(name="k", cost_limit=Decimal("10"), limit_period="weekly"),
    )

    counter.refresh_from_db()
    month.refresh_from_db()
    assert CounterPeriod.objects.filter(counter=counter, spend_micros=1).count() == 1
    assert counter.spend_micros == 0
    assert counter.period_end - counter.period_start <= timedelta(days=7)
    assert month.spend_micros == 1 and not CounterPeriod.objects.filter(counter=month).exists()


def test_team_page_shows_each_limit_against_its_use(admin_client, team, org):
    _edit(admin_client, team)
    Counter.objects.create(
        org=org,
        team=team,
        kind="limit",
        period_start=timezone.now(),
        period_end=timezone.now() + timedelta(hours=5),
        spend_micros=200_000_000,
        tokens=1_000,
    )

    page = admin_client.get(reverse("team-detail", args=[team.pk])).content.decode()

    assert "$200.00" in page and "$250.00" in page
    assert 'aria-label="80% used"' in page
    assert "1,000" in page and "5,000,000" in page


def test_member_sees_their_team_but_cannot_change_its_limits(member_client, team):
    assert member_client.get(reverse("team-detail", args=[team.pk])).status_code == 200
    assert _edit(member_client, team).status_code == 403
    team.refresh_from_db()
    assert team.spend_cap is None


def test_member_gets_404_for_a_team_they_are_not_in(member_client, org):
    other = TeamFactory(org=org, name="Elsewhere")

    assert member_client.get(reverse("team-detail", args=[other.pk])).status_code == 404


def test_other_orgs_admin_gets_404_for_the_team(other_org_admin_client, team):
    assert other_org_admin_client.get(reverse("team-detail", args=[team.pk])).status_code == 404
    assert _edit(other_org_admin_client, team).status_code == 404


def test_auditor_reads_the_team_and_changes_nothing(auditor_client, team):
    assert auditor_client.get(reverse("team-detail", args=[team.pk])).status_code == 200
    assert _edit(auditor_client, team).status_code == 403


def test_usage_before_and_after_a_period_change_still_reconciles(admin_client, team, org):
    from billing.ledger.models import ModelPrice
    from billing.ledger.reconcile import reconcile_all
    from billing.usage.services import record_batch

    ModelPrice.objects.create(
        model="m",
        input_per_million=Decimal("1"),
        output_per_million=Decimal("1"),
        max_output_tokens=10,
    )
    key, _ = make_key(org, name="in-team", team=team)

    def event(n):
        return {
            "request_id": f"r{n}",
            "key_id": str(key.pk),
            "model": "m",
            "input_tokens": 100,
            "output_tokens": 0,
            "status_code": 200,
            "occurred_at": timezone.now().isoformat(),
        }

    record_batch([event(1)])
    _edit(admin_client, team)  # the team's period changes: monthly -> daily
    record_batch([event(2)])

    assert reconcile_all().findings == []
    assert Counter.objects.get(team=team, kind="limit").spend_micros == 100
