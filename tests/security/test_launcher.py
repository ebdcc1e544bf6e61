"""DESIGN.md §4 rule 9: the HTTPS launcher page."""

from __future__ import annotations

import re
from html import unescape

import httpx


def _launch_url(page: str) -> str:
    match = re.search(r'id="open-vscode"[^>]*href="([^"]+)"', page)
    assert match, page
    return unescape(match.group(1))


async def test_launcher_opens_exactly_the_vscode_url(client: httpx.AsyncClient) -> None:
    code = "sc_launch_" + "A" * 43

    response = await client.get("/v1/launch", params={"p": "AUTH", "t": "AUTH-128", "c": code})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert (
        _launch_url(response.text)
        == f"vscode://eprojac.seecodes-task-runner/project/AUTH/task/AUTH-128?code={code}"
    )
    assert 'id="open-cursor"' in response.text
    assert "cursor://eprojac.seecodes-task-runner/project/AUTH/task/AUTH-128" in unescape(response.text)


async def test_launcher_sends_no_referrer_no_cache_and_a_strict_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/launch", params={"p": "AUTH", "t": "AUTH-128", "c": "sc_launch_x"})

    csp = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert nonce
    assert f'<script nonce="{nonce.group(1)}">' in response.text
    assert '<meta name="referrer" content="no-referrer">' in response.text


async def test_launcher_escapes_script_injection_in_every_parameter(client: httpx.AsyncClient) -> None:
    attack = '"><script>alert(1)</script><img src=x onerror=alert(2)>'

    response = await client.get("/v1/launch", params={"p": attack, "t": attack, "c": attack})

    assert "<script>alert(1)</script>" not in response.text
    assert "<img src=x" not in response.text
    assert response.text.count("<script") == 1  # only our own, nonce'd script
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


async def test_allow_listed_base_url_is_passed_through(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/launch",
        params={
            "p": "AUTH",
            "t": "AUTH-1",
            "c": "sc_launch_x",
            "baseUrl": "https://eu.seecodes.example.com/",
        },
    )

    assert "baseUrl=https%3A%2F%2Feu.seecodes.example.com" in _launch_url(response.text)


async def test_base_url_outside_the_allow_list_is_dropped(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/launch",
        params={"p": "AUTH", "t": "AUTH-1", "c": "sc_launch_x", "baseUrl": "https://evil.example.com"},
    )

    assert "baseUrl" not in _launch_url(response.text)
    assert "evil.example.com" not in response.text


async def test_status_language_is_kept_only_when_it_is_a_language_tag(client: httpx.AsyncClient) -> None:
    kept = await client.get(
        "/v1/launch", params={"p": "A", "t": "A-1", "c": "sc_launch_x", "statusLanguage": "pt-BR"}
    )
    dropped = await client.get(
        "/v1/launch", params={"p": "A", "t": "A-1", "c": "sc_launch_x", "statusLanguage": "x'><b>"}
    )

    assert "statusLanguage=pt-BR" in _launch_url(kept.text)
    assert "statusLanguage" not in _launch_url(dropped.text)


async def test_launcher_without_a_code_is_422_in_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/launch", params={"p": "AUTH", "t": "AUTH-1"})

    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
