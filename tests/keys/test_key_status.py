import pytest
from django.urls import reverse

from audit import Actor
from keys import services
from keys.models import Key, KeyStatus
from tests.support.api import events

pytestmark = pytest.mark.django_db


def _url(action: str, key) -> str:
    return reverse(f"keys:{action}", args=[key.pk])


def _status(key) -> str:
    return Key.objects.get(pk=key.pk).status


# Confirmation pages: GET says what will happen and changes nothing


@pytest.mark.parametrize(
    ("action", "consequence"),
    [
        ("disable", "stops working immediately"),
        ("delete", "stops working for good"),
    ],
)
def test_get_shows_the_consequence_and_changes_nothing(admin_client, org, key, action, consequence):
    response = admin_client.get(_url(action, key))

    assert response.status_code == 200
    html = response.content.decode()
    assert "“billing-prod”?" in html
    assert consequence in html
    assert key.preview in html
    assert 'method="post"' in html
    assert _status(key) == KeyStatus.ACTIVE
    assert [e.action for e in events(org)] == ["key.created"]


def test_get_of_enable_changes_nothing(admin_client, org, key):
    services.disable_key(key=key, actor=Actor.system("tests"))

    response = admin_client.get(_url("enable", key))

    assert response.status_code == 200
    assert "works again from its next request" in response.content.decode()
    assert _status(key) == KeyStatus.DISABLED
    assert len(events(org, "key.enabled")) == 0


def test_htmx_get_renders_the_dialog_fragment(admin_client, key):
    response = admin_client.get(_url("disable", key) + "?from=row", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert f'hx-target="#key-row-{key.pk}"' in html
    assert 'name="from" value="row"' in html
    assert _status(key) == KeyStatus.ACTIVE


# POST does it


def test_admin_disables_a_key(admin_client, org, key):
    response = admin_client.post(_url("disable", key))

    assert response.status_code == 302
    assert response["Location"] == reverse("keys:detail", args=[key.pk])
    row = Key.objects.get(pk=key.pk)
    assert row.status == KeyStatus.DISABLED
    assert row.disabled_at is not None
    [event] = events(org, "key.disabled")
    assert event.target_id == str(key.pk)
    assert event.changes == {"status": {"before": "active", "after": "disabled"}}
    assert event.actor_label == "admin@example.com"
    page = admin_client.get(response["Location"]).content.decode()
    assert "billing-prod is disabled." in page


def test_admin_enables_a_disabled_key(admin_client, org, key):
    services.disable_key(key=key, actor=Actor.system("tests"))

    response = admin_client.post(_url("enable", key))

    assert response.status_code == 302
    assert _status(key) == KeyStatus.ACTIVE
    [event] = events(org, "key.enabled")
    assert event.changes == {"status": {"before": "disabled", "after": "active"}}


def test_enabling_an_active_key_is_refused_with_a_message_and_no_event(admin_client, org, key):
    response = admin_client.post(_url("enable", key))

    assert response.status_code == 302
    assert _status(key) == KeyStatus.ACTIVE
    assert events(org, "key.enabled") == []
    assert [e.action for e in events(org)] == ["key.created"]
    page = admin_client.get(response["Location"]).content.decode()
    assert "This key is already active." in page


def test_disabling_a_disabled_key_is_refused_with_no_event(admin_client, org, key):
    services.disable_key(key=key, actor=Actor.system("tests"))

    response = admin_client.post(_url("disable", key))

    assert response.status_code == 302
    assert len(events(org, "key.disabled")) == 1
    assert "already disabled" in admin_client.get(response["Location"]).content.decode()


def test_admin_deletes_a_key_and_the_row_stays(admin_client, org, key):
    services.rotate_key(key=key, actor=Actor.system("tests"), grace_hours=12)
    assert Key.objects.get(pk=key.pk).grace_secret_hash is not None

    response = admin_client.post(_url("delete", key))

    assert response.status_code == 302
    assert response["Location"] == reverse("keys:list")
    row = Key.objects.get(pk=key.pk)
    assert row.status == KeyStatus.DELETED
    assert row.deleted_at is not None
    assert row.grace_secret_hash is None
    assert row.grace_until is None
    assert row.name == "billing-prod"
    [event] = events(org, "key.deleted")
    assert event.changes == {"status": {"before": "active", "after": "deleted"}}


def test_deleted_key_detail_page_says_deleted_and_offers_no_actions(admin_client, key):
    services.delete_key(key=key, actor=Actor.system("tests"))

    html = admin_client.get(reverse("keys:detail", args=[key.pk])).content.decode()

    assert "answers like an unknown key" in html
    assert _url("rotate", key) not in html
    assert _url("enable", key) not in html
    assert _url("delete", key) not in html


@pytest.mark.parametrize("action", ["disable", "enable", "delete"])
def test_deleted_key_cannot_change_status(admin_client, org, key, action):
    services.delete_key(key=key, actor=Actor.system("tests"))
    count = len(events(org))

    response = admin_client.post(_url(action, key))

    assert response.status_code == 302
    assert _status(key) == KeyStatus.DELETED
    assert len(events(org)) == count


def test_disabled_key_can_be_deleted(admin_client, org, key):
    services.disable_key(key=key, actor=Actor.system("tests"))

    admin_client.post(_url("delete", key))

    assert _status(key) == KeyStatus.DELETED
    [event] = events(org, "key.deleted")
    assert event.changes["status"]["before"] == "disabled"


# htmx from the keys table's row


def test_htmx_post_from_the_row_returns_the_updated_row(admin_client, org, key):
    response = admin_client.post(_url("disable", key), {"from": "row"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith(f'<tr id="key-row-{key.pk}" class="status-disabled">')
    assert 'aria-checked="false"' in html
    assert _url("enable", key) in html
    # The flash message travels with the row, out of band.
    assert 'id="messages" hx-swap-oob="true"' in html
    assert "billing-prod is disabled." in html
    assert _status(key) == KeyStatus.DISABLED
    assert len(events(org, "key.disabled")) == 1


def test_htmx_enable_from_the_row_returns_an_active_row(admin_client, org, key):
    services.disable_key(key=key, actor=Actor.system("tests"))

    response = admin_client.post(_url("enable", key), {"from": "row"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="status-active"' in html
    assert 'aria-checked="true"' in html
    assert _status(key) == KeyStatus.ACTIVE


def test_htmx_refused_action_from_the_row_returns_the_unchanged_row_with_the_message(
    admin_client, org, key
):
    response = admin_client.post(_url("enable", key), {"from": "row"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="status-active"' in html
    assert "This key is already active." in html
    assert events(org, "key.enabled") == []


def test_htmx_post_not_from_the_row_redirects(admin_client, key):
    response = admin_client.post(_url("disable", key), {"from": ""}, HTTP_HX_REQUEST="true")

    assert response.status_code == 302
    assert _status(key) == KeyStatus.DISABLED


# Who may


@pytest.mark.parametrize("action", ["disable", "enable", "delete"])
def test_member_and_auditor_get_403(member_client, auditor_client, org, key, action):
    for client in (member_client, auditor_client):
        assert client.get(_url(action, key)).status_code == 403
        assert client.post(_url(action, key)).status_code == 403
    assert _status(key) == KeyStatus.ACTIVE
    assert [e.action for e in events(org)] == ["key.created"]


@pytest.mark.parametrize("action", ["disable", "delete"])
def test_admin_of_another_org_gets_404(other_org_admin_client, org, key, action):
    assert other_org_admin_client.get(_url(action, key)).status_code == 404
    assert other_org_admin_client.post(_url(action, key)).status_code == 404
    assert _status(key) == KeyStatus.ACTIVE


def test_anonymous_is_redirected_to_sign_in(client, key):
    response = client.post(_url("delete", key))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("sign-in"))
    assert _status(key) == KeyStatus.ACTIVE
