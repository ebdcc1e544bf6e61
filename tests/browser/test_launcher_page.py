"""DESIGN.md §4 rule 9 in a real browser: `GET /v1/launch` served by `seecodes serve`, loaded in
headless chromium. What the page asks the browser to open is read from the DevTools protocol
(`Page.frameRequestedNavigation`), which reports custom-scheme navigations that no HTTP proxy sees."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote, urlencode

import pytest

from tests.browser.cdp import Page
from tests.browser.conftest import RefererProbe
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow

EXTENSION = "eprojac.seecodes-task-runner"
CODE = "sc_launch_" + "A" * 43
VSCODE_URL = f"vscode://{EXTENSION}/project/AUTH/task/AUTH-128?code={CODE}"
CURSOR_URL = f"cursor://{EXTENSION}/project/AUTH/task/AUTH-128?code={CODE}"
INJECTIONS = [
    '"><script>window.__pwned=1</script>',
    "javascript:alert(1)",
    "</script><img src=x onerror=window.__pwned=1>",
    "'-alert(1)-'<svg onload=window.__pwned=1>",
]


def _open_launcher(
    page: Page, server: LiveServer, p: str = "AUTH", t: str = "AUTH-128", c: str = CODE
) -> None:
    # The page's own script navigates to vscode:// while the document is parsed, which cancels the
    # load event; the frame stopping to load is the end of the page's work.
    page.navigate(
        f"{server.base_url}/v1/launch?{urlencode({'p': p, 't': t, 'c': c})}",
        until=("Page.frameStoppedLoading",),
    )
    page.settle(0.3)


def _requested(page: Page, reason: str) -> list[str]:
    return [n["url"] for n in page.named("Page.frameRequestedNavigation") if n["reason"] == reason]


def _requested_urls(page: Page) -> list[str]:
    """Every request the tab started, custom-scheme navigations included."""
    return [n["request"]["url"] for n in page.named("Network.requestWillBeSent")]


def _referers(page: Page) -> list[str]:
    """`url: referer` for every Referer chromium reports on a request, from the headers the
    renderer set and, for network requests, the headers that went on the wire."""
    urls = {n["requestId"]: n["request"]["url"] for n in page.named("Network.requestWillBeSent")}
    sent = [(n["request"]["url"], n["request"]["headers"]) for n in page.named("Network.requestWillBeSent")]
    sent += [
        (urls.get(n["requestId"], "?"), n["headers"])
        for n in page.named("Network.requestWillBeSentExtraInfo")
    ]
    return [
        f"{url}: {value}"
        for url, headers in sent
        for name, value in headers.items()
        if name.lower() == "referer"
    ]


def _visible(page: Page, selector: str) -> bool:
    return bool(
        page.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false;"
            " const r = e.getBoundingClientRect();"
            " return e.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})"
            " && r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight; })()"
        )
    )


def _link(page: Page, selector: str) -> dict[str, str]:
    return dict(
        page.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " return {href: e.href, text: e.textContent}; })()"
        )
    )


def test_page_tries_to_open_exactly_the_vscode_url(page: Page, launcher_server: LiveServer) -> None:
    _open_launcher(page, launcher_server)

    assert _requested(page, "scriptInitiated") == [VSCODE_URL]


def test_page_shows_a_visible_vscode_fallback_and_a_cursor_alternative(
    page: Page, launcher_server: LiveServer
) -> None:
    _open_launcher(page, launcher_server)

    vscode, cursor = _link(page, "#open-vscode"), _link(page, "#open-cursor")

    assert _visible(page, "#open-vscode")
    assert _visible(page, "#open-cursor")
    assert vscode == {"href": VSCODE_URL, "text": "Open in VS Code"}
    assert cursor == {"href": CURSOR_URL, "text": "Open in Cursor"}


@pytest.mark.parametrize(
    ("selector", "expected"), [("#open-vscode", VSCODE_URL), ("#open-cursor", CURSOR_URL)]
)
def test_clicking_a_link_opens_its_editor_url(
    page: Page, launcher_server: LiveServer, selector: str, expected: str
) -> None:
    _open_launcher(page, launcher_server)

    page.click(selector)
    page.settle(0.5)

    assert _requested(page, "anchorClick") == [expected]


def test_page_declares_no_referrer_in_header_and_meta(page: Page, launcher_server: LiveServer) -> None:
    _open_launcher(page, launcher_server)

    document = next(n for n in page.named("Network.responseReceived") if n["type"] == "Document")
    headers = {name.lower(): value for name, value in document["response"]["headers"].items()}

    assert headers["referrer-policy"] == "no-referrer"
    assert page.evaluate('document.querySelector("meta[name=referrer]").content') == "no-referrer"


def test_no_request_from_the_page_carries_a_referer(
    open_tab: Callable[[], Page], launcher_server: LiveServer, referer_probe: RefererProbe
) -> None:
    tabs = [open_tab() for _ in range(3)]
    for tab, selector in zip(tabs, ("#open-vscode", "#open-cursor"), strict=False):
        _open_launcher(tab, launcher_server)
        tab.click(selector)
        tab.settle(0.5)
    # A link to another origin, followed from the page as a person would: whatever the page's
    # referrer policy lets out reaches this server.
    away = tabs[2]
    _open_launcher(away, launcher_server)
    away.evaluate(
        f"document.body.insertAdjacentHTML('beforeend', '<a id=\"away\" href=\"{referer_probe.base_url}/away\">away</a>')"
    )
    away.click("#away")
    away.wait_for(lambda e: e["method"] == "Page.loadEventFired")

    assert [[url for url in _requested_urls(tab) if not url.startswith("http")] for tab in tabs] == [
        [VSCODE_URL, VSCODE_URL],  # the page's own attempt, then the click on the VS Code link
        [VSCODE_URL, CURSOR_URL],  # … the click on the Cursor link
        [VSCODE_URL],
    ]
    assert referer_probe.referers("/away") == [None]
    assert [line for tab in tabs for line in _referers(tab)] == []


def test_referer_probe_sees_the_referer_of_an_ordinary_page(
    open_tab: Callable[[], Page], referer_probe: RefererProbe
) -> None:
    """The control: without a referrer policy the same clicks do carry a Referer, so the test above
    would notice one."""
    tabs = [open_tab(), open_tab()]
    for tab, selector in zip(tabs, ("#custom", "#back"), strict=True):
        tab.navigate(f"{referer_probe.base_url}/plain?c=secret")
        tab.click(selector)
        tab.settle(0.5)

    assert referer_probe.referers("/back") == [f"{referer_probe.base_url}/plain?c=secret"]
    assert [line for line in _referers(tabs[0]) if line.startswith("vscode:")] == [
        f"vscode://x.y/project/P/task/T?code=c: {referer_probe.base_url}/"
    ]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("parameter", ["p", "t", "c"])
def test_script_injection_in_a_parameter_does_not_execute(
    page: Page, launcher_server: LiveServer, parameter: str, payload: str
) -> None:
    values = {"p": "AUTH", "t": "AUTH-128", "c": CODE, parameter: payload}

    _open_launcher(page, launcher_server, **values)

    expected = (
        f"vscode://{EXTENSION}/project/{quote(values['p'], safe='')}/task/{quote(values['t'], safe='')}"
        f"?{urlencode({'code': values['c']})}"
    )
    assert page.named("Page.javascriptDialogOpening") == []
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.scripts.length") == 1  # only the page's own, nonce'd script
    assert page.evaluate("document.querySelectorAll('img, svg').length") == 0
    assert page.evaluate("document.getElementById('project').textContent") == values["p"]
    assert page.evaluate("document.getElementById('task').textContent") == values["t"]
    assert _requested(page, "scriptInitiated") == [expected]
    assert _link(page, "#open-vscode")["href"] == expected


@pytest.mark.parametrize(("parameter", "value"), [("p", ".."), ("p", "."), ("t", ".."), ("t", ".")])
def test_dot_segment_ids_are_refused_not_opened_elsewhere(
    page: Page, launcher_server: LiveServer, parameter: str, value: str
) -> None:
    # The browser would resolve the segment away: project ".." opened `vscode://…/task/AUTH-128`.
    _open_launcher(page, launcher_server, **{parameter: value})

    document = next(n for n in page.named("Network.responseReceived") if n["type"] == "Document")
    body = json.loads(page.evaluate("document.body.innerText"))
    assert document["response"]["status"] == 422
    assert body["error"] == "validation_error"
    assert [url for url in _requested_urls(page) if not url.startswith("http")] == []
