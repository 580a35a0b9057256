"""Playwright against Debian's Chromium and pytest-django's live server.

Playwright's sync API runs an event loop in the test's thread, so Django's async-unsafe guard
would refuse every ORM call a browser test makes while the browser is open; the test thread
never shares a connection with async code, so it is safe to switch the guard off here.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-write"])
    # The console may write the clipboard but not read it (its Permissions-Policy): what the
    # copy buttons write is kept in window.copied for the tests to read.
    context.add_init_script(
        "window.copied = [];"
        "if (navigator.clipboard) { const write = navigator.clipboard.writeText.bind(navigator.clipboard);"
        " navigator.clipboard.writeText = (text) => { window.copied.push(text); return write(text); }; }"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    uncaught: list[Exception] = []
    page.on("pageerror", lambda error: uncaught.append(error))
    # What the Content-Security-Policy blocked (an inline script, handler or style) is a
    # console message, not a page error: any one fails the walk.
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()
    assert not uncaught, f"JavaScript errors on the pages: {uncaught}"
    assert not blocked, f"blocked by the Content-Security-Policy: {blocked}"


@pytest.fixture
def screenshot(page: Page) -> Callable[[str], None]:
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(name: str) -> None:
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    return take


@pytest.fixture
def sign_in(page: Page, screenshot) -> Callable[..., None]:
    def sign_in_as(email: str, password: str, *, screenshot_name: str | None = None) -> None:
        page.goto("/sign-in/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        if screenshot_name:
            screenshot(screenshot_name)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="API keys")).to_be_visible()

    return sign_in_as
