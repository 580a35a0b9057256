"""The Hygiene page (keys.hygiene): each finding lists its keys, people or tokens; the batch
fixes go through the key list's confirmed, audited batch action; the score."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from keys import hygiene
from keys.models import Key
from tests.factories import UserFactory, make_key
from tests.support.api import events

pytestmark = pytest.mark.django_db

URL = "/keys/hygiene/"


def _tidy(org, name="tidy"):
    return make_key(
        org,
        name=name,
        expires_at=timezone.now() + timedelta(days=30),
        monthly_spend_cap=Decimal("10"),
        model_scope=("gpt-4o-mini",),
    )[0]


def _codes(org, key) -> set[str]:
    return {f.code for f in hygiene.findings(org, timezone.now()) if key in f.rows}


def test_a_tidy_key_has_no_finding_and_a_bare_one_has_three(org):
    tidy = _tidy(org)
    bare, _ = make_key(org, name="bare")

    assert _codes(org, tidy) == set()
    assert _codes(org, bare) == {"no_expiry", "no_cap", "wide_scope"}


def test_unused_old_and_orphaned_keys_are_found(org):
    old = _tidy(org, "old")
    Key.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=400),
        last_used_at=timezone.now() - timedelta(days=100),
    )
    leaver = UserFactory()
    orphan, _ = make_key(org, name="orphan", expires_at=timezone.now() + timedelta(days=3))
    Key.objects.filter(pk=orphan.pk).update(created_by=leaver)

    assert {"unused", "not_rotated"} <= _codes(org, Key.objects.get(pk=old.pk))
    assert "creator_gone" in _codes(org, Key.objects.get(pk=orphan.pk))


def test_canaries_and_deleted_keys_are_left_out(org):
    canary, _ = make_key(org, name="planted", type="canary")
    gone, _ = make_key(org, name="gone")
    Key.objects.filter(pk=gone.pk).update(status="deleted")

    assert _codes(org, canary) == set() and _codes(org, gone) == set()


def test_the_score_is_the_share_of_clean_keys_less_five_per_person_without_two_factor(
    org, owner_membership
):
    _tidy(org, "a")
    make_key(org, name="b")

    assert hygiene.score(org, timezone.now()) == 50 - 5  # one of two clean; the owner lacks 2FA


def test_the_page_lists_findings_and_its_expiry_fix_is_a_confirmed_audited_batch(admin_client, org):
    bare, _ = make_key(org, name="bare")

    page = admin_client.get(URL).content.decode()
    assert "Keys without an expiry" in page and "bare" in page
    assert 'value="expire"' in page

    confirm = admin_client.post(reverse("keys:batch"), {"action": "expire", "keys": [str(bare.pk)]})
    assert "Give 1 key an expiry?" in confirm.content.decode()
    assert Key.objects.get(pk=bare.pk).expires_at is None

    admin_client.post(
        reverse("keys:batch"), {"action": "expire", "keys": [str(bare.pk)], "confirmed": "yes"}
    )
    expires = Key.objects.get(pk=bare.pk).expires_at
    assert timedelta(days=89) < expires - timezone.now() <= timedelta(days=90)
    (event,) = events(org, "keys.expiry_set")
    assert event.data["named_keys"][0]["before"] is None


def test_auditors_read_it_and_members_do_not(auditor_client, member_client):
    assert auditor_client.get(URL).status_code == 200
    assert member_client.get(URL).status_code in (403, 404)


def test_the_hourly_task_keeps_the_score_the_key_list_shows(admin_client, member_client, org):
    from keys.tasks import keep_hygiene_scores

    _tidy(org, "a")
    make_key(org, name="b")
    assert "/100" not in admin_client.get("/keys/").content.decode()

    assert keep_hygiene_scores.delay().get() == 1
    assert keep_hygiene_scores.delay().get() == 0  # unchanged: nothing written

    org.refresh_from_db()
    assert org.hygiene_score == 45  # one of two keys clean, less 5: the admin lacks 2FA
    assert "45/100" in admin_client.get("/keys/").content.decode()
    assert "45/100" not in member_client.get("/keys/").content.decode()
