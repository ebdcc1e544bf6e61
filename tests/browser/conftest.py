"""The browser tier: a real `seecodes serve` on loopback, Debian's headless chromium, a Referer probe.

Without /usr/bin/chromium the tier is skipped with a reason, or fails under
SEECODES_REQUIRE_ALL_TIERS=1 like every other tier.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.browser.cdp import CHROMIUM, Browser, Page
from tests.support.app import TEST_SECRET
from tests.support.forge import FakeForge
from tests.support.live_server import LiveServer, server_env
from tests.support.tiers import tier_unavailable


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        tier_unavailable(f"{CHROMIUM} is missing: install Debian's `chromium` package")
    return CHROMIUM


@pytest.fixture(scope="session")
def launcher_server(
    forge: FakeForge, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("launcher-server")
    shutil.copyfile(sqlite_template, directory / "seecodes.db")
    env = server_env(
        forge,
        database_url=f"sqlite:///{directory / 'seecodes.db'}",
        var_dir=directory / "var",
        secret=TEST_SECRET,
    )
    with LiveServer(env, log_path=directory / "server.log") as live:
        yield live


@pytest.fixture(scope="session")
def browser(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with Browser(tmp_path_factory.mktemp("chromium-profile"), executable=chromium) as running:
        yield running


@pytest.fixture
def open_tab(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Opens tabs that close after the test. A click that launches a custom scheme leaves its tab
    ignoring further clicks (chromium's invisible "open this app?" prompt), so one such click per tab."""
    with ExitStack() as tabs:

        def opener() -> Page:
            tab = tabs.enter_context(browser.new_page())
            for domain in ("Page", "Network", "Runtime"):
                tab.send(f"{domain}.enable")
            return tab

        yield opener


@pytest.fixture
def page(open_tab: Callable[[], Page]) -> Page:
    return open_tab()


class RefererProbe:
    """A loopback HTTP server that records the Referer of every request it gets.

    `/plain` is an ordinary page without a referrer policy, linking to a custom scheme and back to
    the probe: the control that shows a Referer would be seen if one were sent.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        probe = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                probe.requests.append((self.path, self.headers.get("Referer")))
                body = (
                    b'<!doctype html><a id="custom" href="vscode://x.y/project/P/task/T?code=c">custom</a>'
                    b' <a id="back" href="/back">back</a>'
                    if self.path.startswith("/plain")
                    else b"ok"
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def referers(self, path_prefix: str) -> list[str | None]:
        return [referer for path, referer in self.requests if path.startswith(path_prefix)]


@pytest.fixture(scope="session")
def referer_probe() -> Iterator[RefererProbe]:
    probe = RefererProbe()
    probe.thread.start()
    yield probe
    probe.server.shutdown()
    probe.server.server_close()
