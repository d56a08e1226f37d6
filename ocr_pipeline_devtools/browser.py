"""A real headless browser for the web pages' tests and the README's screenshots: Debian's ``chromium``
(``scripts/setup.sh`` installs it) driven by Playwright for Python. Playwright's own browser downloads
are never used (``playwright install`` is not needed)."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

CHROMIUM_PATH = "/usr/bin/chromium"
# as root Chromium needs --no-sandbox; the rest keeps it from calling home or doing work nobody sees
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium_available() -> bool:
    return os.access(CHROMIUM_PATH, os.X_OK)


@contextlib.contextmanager
def chromium(viewport: tuple[int, int] = (1400, 900)) -> Iterator[object]:
    """A fresh browser context (its own sessionStorage and cookies) on the system Chromium; yields
    a Playwright ``BrowserContext``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            yield context
            context.close()
        finally:
            browser.close()
