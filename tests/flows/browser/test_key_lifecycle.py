"""A key's whole life through the browser: created, shown once, disabled from its row,
rotated, deleted, and every step in its audit trail."""

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect

from audit.models import AuditEvent
from gateway_console import secret
from keys.models import Key, KeyStatus
from tests.factories import PASSWORD, make_key

pytestmark = pytest.mark.browser

KEY_NAME = "billing-prod"
SECRET_SHAPE = re.compile(r"^sk-gw-[0-9A-Za-z]{46}$")


def _read_secret(page: Page) -> str:
    plaintext = page.locator("[data-secret]").inner_text().strip()
    assert len(plaintext) == 52
    assert plaintext.startswith("sk-gw-")
    assert SECRET_SHAPE.match(plaintext)
    return plaintext


def _go_back(page: Page) -> None:
    """Back one entry. Chromium keeps no copy of a no-store response and does not re-send a
    form unasked, so going back to a show-once page ends on its ERR_CACHE_MISS page."""
    try:
        page.go_back()
    except PlaywrightError as error:
        if "ERR_CACHE_MISS" not in error.message:
            raise
        page.wait_for_url("chrome-error://chromewebdata/")
        page.wait_for_load_state()


def _keys_table(page: Page) -> Locator:
    return page.locator("#keys-table tbody")


@pytest.mark.smoke
def test_admin_creates_disables_rotates_and_deletes_a_key(
    page: Page, live_server, screenshot, sign_in, org, team, admin_membership
):
    # 1. Sign in through the form; it lands on the keys page.
    sign_in(admin_membership.user.email, PASSWORD, screenshot_name="01-sign-in")
    expect(page).to_have_url(f"{live_server.url}/keys/")
    expect(_keys_table(page)).to_contain_text("No active or disabled keys.")
    screenshot("02-keys")

    # 2. Create a key; its secret is shown once, uncacheable, and can be copied.
    page.get_by_role("link", name="New key").click()
    page.get_by_label("Name").fill(KEY_NAME)
    page.get_by_label("Team").select_option(label=team.name)
    page.get_by_label("Monthly spend cap (USD)").fill("250")
    screenshot("03-new-key")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/keys/new/")
    ) as created:
        page.get_by_role("button", name="Create key").click()
    assert created.value.status == 200
    assert "no-store" in created.value.headers["cache-control"]
    expect(page.get_by_role("heading", name=f"Key “{KEY_NAME}” created")).to_be_visible()
    first_secret = _read_secret(page)

    key = Key.objects.get(org=org, name=KEY_NAME)
    assert key.secret_hash == secret.secret_hash(first_secret)
    assert key.team == team
    assert key.monthly_spend_cap == 250
    assert page.content().count(first_secret) == 1  # in the secret box only, nowhere else

    # By its attribute, not its name: the name changes to "Copied" on a click.
    copy = page.locator("button[data-copy]")
    expect(copy).to_have_text("Copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("window.copied.at(-1)") == first_secret
    screenshot("04-show-once")

    # 3. Neither a reload nor the back button shows the secret again or makes a second key.
    page.reload()
    if page.url.endswith(f"/keys/{key.pk}/"):  # Chromium re-sent the form; its nonce was spent
        expect(page.locator("#messages")).to_contain_text("already shown once")
    assert first_secret not in page.content()
    assert Key.objects.filter(org=org, name=KEY_NAME).count() == 1
    screenshot("05-after-reload")
    _go_back(page)
    assert first_secret not in page.content()
    assert Key.objects.filter(org=org, name=KEY_NAME).count() == 1
    screenshot("06-after-back")

    # 4. Disable the key with the toggle in its row, confirming in the dialog.
    page.goto("/keys/")
    row = page.locator(f"#key-row-{key.pk}")
    expect(row).to_contain_text(KEY_NAME)
    row.get_by_role("switch").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Disable “{KEY_NAME}”?")
    screenshot("07-disable-dialog")
    dialog.get_by_role("button", name=f"Disable {KEY_NAME}").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_role("switch")).to_have_text("Disabled")
    expect(page.locator("#messages")).to_contain_text(f"{KEY_NAME} is disabled.")
    key.refresh_from_db()
    assert key.status == KeyStatus.DISABLED
    screenshot("08-disabled")

    # 5. Rotate it from its key page, without a grace period: a new secret, shown once.
    row.get_by_role("link", name=KEY_NAME).click()
    expect(page.get_by_role("heading", name=KEY_NAME)).to_be_visible()
    screenshot("09-key-page")
    page.get_by_role("link", name="Rotate").click()
    page.get_by_label("Keep the old secret working for").fill("0")
    screenshot("10-rotate-confirm")
    page.get_by_role("button", name=f"Rotate {KEY_NAME}").click()
    expect(page.get_by_role("heading", name=f"New secret for “{KEY_NAME}”")).to_be_visible()
    expect(page.locator(".showonce")).to_contain_text("The old secret has stopped working.")
    second_secret = _read_secret(page)
    assert second_secret != first_secret
    key.refresh_from_db()
    assert key.secret_hash == secret.secret_hash(second_secret)
    assert key.grace_secret_hash is None
    screenshot("11-rotated-show-once")

    # Leaving the page and coming back does not show the new secret again either.
    page.get_by_role("link", name="I have copied it: go to the key").click()
    expect(page.get_by_role("heading", name=KEY_NAME)).to_be_visible()
    _go_back(page)
    assert second_secret not in page.content()
    screenshot("12-back-after-rotate")
    page.goto(f"/keys/{key.pk}/")

    # 6. Delete it from its key page; the list, which hides deleted keys, no longer shows it.
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name=f"Delete “{KEY_NAME}”?")).to_be_visible()
    screenshot("13-delete-confirm")
    page.get_by_role("button", name=f"Delete {KEY_NAME}").click()
    expect(page).to_have_url(f"{live_server.url}/keys/")
    expect(page.locator("#messages")).to_contain_text(f"{KEY_NAME} is deleted.")
    expect(_keys_table(page)).not_to_contain_text(KEY_NAME)
    expect(_keys_table(page)).to_contain_text("No active or disabled keys.")
    expect(page.locator(f"#key-row-{key.pk}")).to_have_count(0)
    screenshot("14-keys-after-delete")

    # 7. The key page stays reachable and its trail holds the four events, as does the DB.
    expected = ["key.created", "key.disabled", "key.rotated", "key.deleted"]
    page.goto(f"/keys/{key.pk}/")
    expect(page.locator(".flash-error")).to_contain_text("Deleted")
    expect(page.locator("code.action")).to_have_text(list(reversed(expected)))
    screenshot("15-key-page-deleted")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_placeholder("Start of a name, or an id").fill(str(key.pk))
    expect(page.locator("#audit-table code.action")).to_have_text(list(reversed(expected)))
    screenshot("16-audit-log")

    events = AuditEvent.objects.filter(org=org, target_id=str(key.pk)).order_by("seq")
    assert [e.action for e in events] == expected
    assert {e.actor_id for e in events} == {str(admin_membership.user_id)}


def test_member_sees_their_teams_keys_and_cannot_change_them(
    page: Page, screenshot, sign_in, org, team, other_team, member_membership
):
    own_key, _ = make_key(org, name="search-prod", team=team)
    other_key, _ = make_key(org, name="platform-prod", team=other_team)

    sign_in(member_membership.user.email, PASSWORD)
    table = _keys_table(page)
    expect(table).to_contain_text("search-prod")
    expect(table).not_to_contain_text("platform-prod")
    expect(page.get_by_role("link", name="New key")).to_have_count(0)
    expect(page.get_by_role("switch")).to_have_count(0)
    expect(page.locator(f"#key-row-{own_key.pk} .badge")).to_have_text("Active")
    screenshot("member-01-keys")

    response = page.goto(f"/keys/{other_key.pk}/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert "platform-prod" not in page.content()
    screenshot("member-02-other-teams-key")

    response = page.goto("/keys/new/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    screenshot("member-03-new-key-not-allowed")
