"""Browser tests: Playwright driving the system Chromium against a live portal server.

The server runs in a thread on the test database and serves what the session set-up committed
(the named clients and people), so no test here needs to flush tables.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser():
    executable = _chromium_path()
    if executable is None:
        pytest.skip(
            "No Chromium installed: browser tests skipped (apt-get install chromium; "
            "or set CHROMIUM_PATH). CI installs it."
        )
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                # <slug>.localhost to the loopback address the live server listens on.
                "--host-resolver-rules=MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
