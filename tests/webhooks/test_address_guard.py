"""The webhook address guard on its own: every address a name resolves to is checked, each time."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest

from seecodes.webhooks.delivery import AddressRefused, resolve

PUBLIC = "93.184.215.14"


def _resolver(answers: list[list[str]]) -> Callable[..., Any]:
    """A getaddrinfo whose answers change from one call to the next, as a rebinding DNS server's do."""

    async def getaddrinfo(host: str, port: int, **_kwargs: Any) -> list[tuple[Any, ...]]:
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    return getaddrinfo


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[list[str]]], None]:
    def install(answers: list[list[str]]) -> None:
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "getaddrinfo", _resolver(answers))

    return install


async def test_a_public_name_resolves_to_the_address_the_attempt_connects_to(
    dns: Callable[[list[list[str]]], None],
) -> None:
    dns([[PUBLIC]])

    target = await resolve("https://hooks.example.com/in", [])

    assert (target.host, target.address) == ("hooks.example.com", PUBLIC)


async def test_a_name_that_rebinds_to_loopback_is_refused_the_second_time(
    dns: Callable[[list[list[str]]], None],
) -> None:
    dns([[PUBLIC], ["127.0.0.1"]])

    await resolve("https://hooks.example.com/in", [])
    with pytest.raises(AddressRefused, match=r"127\.0\.0\.1"):
        await resolve("https://hooks.example.com/in", [])


UNSPECIFIED = ".".join(["0"] * 4)  # an address the guard refuses, not one anything binds


@pytest.mark.parametrize(
    "private", ["10.0.0.7", "192.168.1.1", "100.64.0.1", "169.254.169.254", UNSPECIFIED, "224.0.0.1"]
)
async def test_one_private_address_among_public_ones_is_enough_to_refuse(
    dns: Callable[[list[list[str]]], None], private: str
) -> None:
    dns([[PUBLIC, private]])

    with pytest.raises(AddressRefused, match=private.replace(".", r"\.")):
        await resolve("https://hooks.example.com/in", [])


async def test_the_allow_list_takes_a_host_or_a_host_and_port(dns: Callable[[list[list[str]]], None]) -> None:
    dns([["127.0.0.1"]])

    assert (await resolve("https://hooks.internal/in", ["hooks.internal"])).address == "127.0.0.1"
    assert (await resolve("http://hooks.internal:8443/in", ["hooks.internal:8443"])).address == "127.0.0.1"
    with pytest.raises(AddressRefused):
        await resolve("https://hooks.internal:9000/in", ["hooks.internal:8443"])


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(AddressRefused, match="does not resolve"):
        await resolve("https://no-such-host.invalid/in", [])
