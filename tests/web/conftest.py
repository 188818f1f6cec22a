"""Browser fixtures: the system's Chromium driven by Playwright, against a real server.

Playwright never downloads a browser here: it launches CHROMIUM (default /usr/bin/chromium,
Debian's `chromium` package; `make test` installs it when missing). Reuse these fixtures for
any page test: `live_server` (a real `collection-cases serve` on the embedded default, demo key
included), `browser`, and `page` (a fresh context that records every request and every
Content-Security-Policy violation).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    async_playwright,
    expect,
)

from tests.live import free_port, serve, stop, wait_healthy

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# What works headless in containers and CI, with nothing phoning home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# The suite runs in several processes on a small machine (make test): ReDoc laying out the
# whole API can take longer than the 5 s `expect` waits by default while other tests use the
# cores. What is expected is unchanged; only how long it may take to show (as long as an
# action may: Playwright's 30 s).
expect.set_options(timeout=30_000)

# Installed before any page script runs: CSP violations become console lines we can collect.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.log("csp-violation " + e.effectiveDirective + " " + e.blockedURI);
});
"""


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """A real `collection-cases serve` on the embedded default: its own PostgreSQL, demo key."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["COLLECTION_CASES_LOG_LEVEL"] = "warning"
    data_dir = Path(tempfile.mkdtemp(prefix="cc-web-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(port, env, "--data-dir", str(data_dir))
    try:
        wait_healthy(base, proc, timeout=90)
        yield base
    finally:
        stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: `sudo apt-get install -y chromium`"
            " (make test does it when run as root), or CHROMIUM=/path/to/chromium."
        )
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    async with async_playwright() as playwright:
        # Playwright gives the browser a fresh temporary profile and deletes it on close.
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@dataclass
class Recorded:
    """What a page did: every request it made (blocked ones too) and every CSP violation."""

    page: Page
    requests: list[Request] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    csp_violations: list[str] = field(default_factory=list)

    def _on_request(self, request: Request) -> None:
        self.requests.append(request)

    def _on_failed(self, request: Request) -> None:
        self.failures[request.url] = request.failure or ""

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.text.startswith("csp-violation "):
            self.csp_violations.append(message.text.removeprefix("csp-violation "))

    def foreign(self, base: str) -> list[str]:
        """URLs requested from anywhere but `base` (same-origin blob: and data: are local)."""
        origin = urlsplit(base)
        out = []
        for request in self.requests:
            url = request.url
            if url.startswith("data:"):
                continue
            inner = urlsplit(url.removeprefix("blob:"))
            if (inner.scheme, inner.netloc) != (origin.scheme, origin.netloc):
                out.append(url)
        return out


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Recorded]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_init_script(_CSP_LISTENER)
    page = await context.new_page()
    recorded = Recorded(page)
    page.on("request", recorded._on_request)
    page.on("requestfailed", recorded._on_failed)
    page.on("console", recorded._on_console)
    yield recorded
    await context.close()
