"""Scheduled rotation (keys.alerts.rotation_due_alerts): every N days with an overlap; 7 days
ahead and when due, the key's admins are emailed a link that rotates it after sign-in and a
step-up with that overlap, never the secret; during any grace period the key page shows who
still presents the old secret."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit import Actor
from billing.alerts.evaluation import evaluate
from billing.alerts.models import Alert
from keys import services
from keys.models import Key
from keys.sightings import sightings
from tests.factories import make_key
from tests.keys.test_edit_key import _as_browser_sends, _edit_url

pytestmark = pytest.mark.django_db


def _scheduled(org, *, created_days_ago: int, every=30, overlap=6):
    key, secret = make_key(
        org, name="scheduled", rotate_every_days=every, rotation_overlap_hours=overlap
    )
    Key.objects.filter(pk=key.pk).update(
        created_at=timezone.now() - timedelta(days=created_days_ago)
    )
    key.refresh_from_db()
    return key, secret


def _raise(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return evaluate(now=timezone.now())


def test_nothing_until_seven_days_before_it_is_due(
    org, owner_membership, mailoutbox, django_capture_on_commit_callbacks
):
    _scheduled(org, created_days_ago=10)

    assert _raise(django_capture_on_commit_callbacks) == []
    assert mailoutbox == []


def test_a_reminder_a_week_ahead_then_the_due_mail_with_the_link_and_no_secret(
    settings,
    org,
    owner_membership,
    admin_membership,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    settings.CONSOLE_URL = "https://console.example.com"
    key, secret = _scheduled(org, created_days_ago=25)

    _raise(django_capture_on_commit_callbacks)
    _raise(django_capture_on_commit_callbacks)  # once per stage

    (soon,) = Alert.objects.filter(org=org, kind="key_rotation_due")
    assert soon.threshold == "soon"
    (mail,) = mailoutbox
    link = f"https://console.example.com/keys/{key.pk}/rotate/?grace_hours=6"
    assert link in mail.body and secret not in mail.body
    assert sorted(mail.to) == ["admin@example.com", "owner@example.com"]

    Key.objects.filter(pk=key.pk).update(created_at=timezone.now() - timedelta(days=31))
    _raise(django_capture_on_commit_callbacks)
    assert sorted(Alert.objects.filter(org=org).values_list("threshold", flat=True)) == [
        "due",
        "soon",
    ]


def test_the_link_rotates_with_the_overlap_after_a_step_up(admin_client, org):
    key, _ = _scheduled(org, created_days_ago=31)

    page = admin_client.get(reverse("keys:rotate", args=[key.pk]), {"grace_hours": "6"})

    assert page.status_code == 200
    assert 'name="grace_hours" value="6"' in page.content.decode()


def test_rotating_starts_the_schedule_again(org):
    key, _ = _scheduled(org, created_days_ago=31)

    key, _ = services.rotate_key(key=key, actor=Actor.system("tests"), grace_hours=6)

    assert key.rotation_due_at > timezone.now() + timedelta(days=29)


def test_the_form_and_the_api_set_a_schedule(admin_client, api, org, key):
    data = _as_browser_sends(admin_client.get(_edit_url(key)))
    data.update(rotate_every_days="90", rotation_overlap_hours="12")
    assert admin_client.post(_edit_url(key), data).status_code == 302
    key.refresh_from_db()
    assert (key.rotate_every_days, key.rotation_overlap_hours) == (90, 12)

    response = api.patch(f"/api/v1/keys/{key.pk}", {"rotation_overlap_hours": 25})
    assert response.status_code == 422
    body = api.get(f"/api/v1/keys/{key.pk}").json()
    assert (body["rotate_every_days"], body["rotation_overlap_hours"]) == (90, 12)
    assert body["rotation_due_at"] is not None


def test_during_the_grace_the_key_page_names_who_still_uses_the_old_secret(admin_client, org):
    key, _ = make_key(org, name="rotated")
    key, _ = services.rotate_key(key=key, actor=Actor.system("tests"), grace_hours=6)
    sightings.seen(key.pk, "198.51.100.23", "legacy-batch/1.0", True, timezone.now())
    sightings.seen(key.pk, "198.51.100.24", "new-app/2.0", False, timezone.now())
    sightings.flush()

    page = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    banner = page.split("keeps working until", 1)[1].split("</div>", 1)[0]
    assert "198.51.100.23" in banner and "legacy-batch/1.0" in banner
    assert "198.51.100.24" not in banner
