"""/docs and /redoc render the API in a real browser from this server alone: every request the
pages make goes to the server itself (no CDN, no web fonts), and Swagger UI shows the operations."""

from __future__ import annotations

import time
from urllib.parse import urlparse

from tests.browser.cdp import Page
from tests.support.live_server import LiveServer


def _wait_for(page: Page, expression: str, timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        page.settle(0.2)
    return page.evaluate(expression)


def _hosts_requested(page: Page) -> set[str]:
    urls = [urlparse(sent["request"]["url"]) for sent in page.named("Network.requestWillBeSent")]
    return {url.netloc for url in urls if url.scheme in ("http", "https")}  # not data: or blob:


def test_swagger_ui_renders_the_operations_without_a_cdn(page: Page, launcher_server: LiveServer) -> None:
    page.navigate(f"{launcher_server.base_url}/docs")

    title = _wait_for(page, "document.querySelector('.swagger-ui .info .title')?.textContent")
    operations = _wait_for(page, "document.querySelectorAll('.opblock').length")

    assert "SeeCodes Execution Engine" in str(title)
    assert isinstance(operations, int)
    assert operations > 20
    assert _hosts_requested(page) == {urlparse(launcher_server.base_url).netloc}


def test_redoc_renders_without_a_cdn(page: Page, launcher_server: LiveServer) -> None:
    page.navigate(f"{launcher_server.base_url}/redoc")

    heading = _wait_for(page, "document.querySelector('h1')?.textContent")

    assert "SeeCodes Execution Engine" in str(heading)
    assert _hosts_requested(page) == {urlparse(launcher_server.base_url).netloc}
