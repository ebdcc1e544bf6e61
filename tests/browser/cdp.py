"""Headless Debian chromium driven over the Chrome DevTools Protocol, just enough for page tests.

Why CDP and not a browser-automation library: the launcher's whole job is a navigation to a
custom scheme (`vscode://`), which no HTTP-level interception sees; CDP reports it as
`Page.frameRequestedNavigation` with the exact URL the page asked for. The only dependency is a
websocket client.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.live_server import _die_with_parent

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium keeps dialling Google, which the closed
# network refuses; a fresh profile per browser keeps runs independent.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]

Event = dict[str, Any]


class CdpError(RuntimeError):
    pass


class Browser:
    def __init__(self, profile_dir: Path, executable: Path = CHROMIUM) -> None:
        self.profile_dir = profile_dir
        self.executable = executable
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 30.0) -> Browser:
        port_file = self.profile_dir / "DevToolsActivePort"
        self.process = subprocess.Popen(
            [str(self.executable), *FLAGS, f"--user-data-dir={self.profile_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            lines = port_file.read_text().split() if port_file.exists() else []
            if lines:
                self.port = int(lines[0])
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("chromium did not open its DevTools port in time")

    def new_page(self) -> Page:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            target = json.load(response)
        return Page(connect(target["webSocketDebuggerUrl"], max_size=None), target["id"], self)

    def close_page(self, target_id: str) -> None:
        urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/close/{target_id}", timeout=10).close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> Browser:
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


class Page:
    """One tab. Every event the tab sends is kept in `events`, in order, for the test to inspect."""

    def __init__(self, socket: ClientConnection, target_id: str, browser: Browser) -> None:
        self.socket = socket
        self.target_id = target_id
        self.browser = browser
        self.events: list[Event] = []
        self._next_id = 0
        self._seen = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        command_id = self._next_id
        self.socket.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if "method" in message:
                self.events.append(message)
            elif message.get("id") == command_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        """The first event from the last wait on (or already received) that matches."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self._seen, len(self.events)):
                if predicate(self.events[index]):
                    self._seen = index + 1
                    return self.events[index]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"no matching event in {timeout}s; got {[e['method'] for e in self.events]}"
                )
            try:
                message = json.loads(self.socket.recv(timeout=remaining))
            except TimeoutError:
                continue
            if "method" in message:
                self.events.append(message)

    def settle(self, seconds: float) -> None:
        """Collect whatever events arrive within `seconds`."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(self.socket.recv(timeout=remaining))
            except TimeoutError:
                return
            if "method" in message:
                self.events.append(message)

    def named(self, method: str) -> list[dict[str, Any]]:
        return [event["params"] for event in self.events if event["method"] == method]

    def navigate(self, url: str, until: tuple[str, ...] = ("Page.loadEventFired",)) -> None:
        """Navigate and wait for the first of the `until` events that this navigation causes (a
        JavaScript dialog, which would block the page, ends the wait too)."""
        self._seen = len(self.events)
        self.send("Page.navigate", url=url)
        self.wait_for(lambda e: e["method"] in (*until, "Page.javascriptDialogOpening"))

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element, as a person would make it."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
            " const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1
            )

    def __enter__(self) -> Page:
        self.socket.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.socket.__exit__(*exc)
        self.browser.close_page(self.target_id)
