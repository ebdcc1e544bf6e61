"""Posting one signed webhook: where it may go, and the HTTP attempt. An adapter: no domain rule.

The address guard resolves the endpoint's name and checks every address it has, at registration
and again before each attempt, and the attempt connects to an address it checked (the URL's host
replaced by that address, with SNI and Host set to the name). A name that resolves to a public
address when registered and to 127.0.0.1 later (DNS rebinding) is refused at the attempt, and a
resolver answering differently between our check and the connection cannot slip an address past
it, because the connection never resolves the name itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

# An answer is read this far and no further: a receiver owes us a status, not a document.
MAX_RESPONSE_BYTES = 64 * 1024
SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
USER_AGENT = "seecodes-webhooks/1"
_DEFAULT_PORTS = {"https": 443, "http": 80}


class AddressRefused(ValueError):
    """The endpoint's URL may not be posted to; the message says why, in one sentence."""


@dataclass(frozen=True, slots=True)
class Target:
    url: httpx.URL
    host: str
    address: str  # the checked address the attempt connects to


@dataclass(frozen=True, slots=True)
class Attempt:
    delivered: bool
    status_code: int | None
    error: str | None
    latency_ms: int


def derive_secret(key: bytes, endpoint_id: str, salt: str) -> str:
    """The endpoint's signing secret in the Standard Webhooks form: 256 bits, from the server's key."""
    digest = hmac.new(key, f"webhook:{endpoint_id}:{salt}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(digest).decode()


def key_id(key: bytes) -> str:
    """A fingerprint naming which server key derived a secret (not the key, nor enough to guess it)."""
    return hashlib.sha256(b"seecodes-webhook-key:" + key).hexdigest()[:16]


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _allowed(host: str, port: int, allowed_hosts: Collection[str]) -> bool:
    return host in allowed_hosts or f"{host}:{port}" in allowed_hosts


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for loopback, private, link-local (the cloud metadata address
    # 169.254.169.254 among them), shared (100.64/10), reserved and unspecified ranges.
    return ip.is_global and not ip.is_multicast


def parse(url: str, allowed_hosts: Collection[str]) -> tuple[httpx.URL, str, int]:
    """The URL's shape alone: https (http only to an allowed host), a host, no credentials."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise AddressRefused("the URL cannot be parsed") from None
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.host:
        raise AddressRefused("the URL must be https:// with a host")
    if parsed.userinfo:
        raise AddressRefused("the URL may not carry a user name or password")
    if parsed.fragment:
        raise AddressRefused("the URL may not carry a fragment")
    host = parsed.host.lower().rstrip(".")
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    if parsed.scheme == "http" and not _allowed(host, port, allowed_hosts):
        raise AddressRefused(
            "the URL must be https:// (http only to a host SEECODES_WEBHOOK_ALLOWED_HOSTS names)"
        )
    return parsed, host, port


async def resolve(url: str, allowed_hosts: Collection[str]) -> Target:
    """Check where `url` leads now; AddressRefused if any address it resolves to is not public."""
    parsed, host, port = parse(url, allowed_hosts)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise AddressRefused(f"the host {host!r} does not resolve: {error}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise AddressRefused(f"the host {host!r} does not resolve")
    if not _allowed(host, port, allowed_hosts):
        for address in addresses:
            if not _public(address):
                raise AddressRefused(
                    f"the host {host!r} resolves to {address}, a loopback, private, link-local or "
                    "reserved address"
                )
    return Target(url=parsed, host=host, address=addresses[0])


def sign(secret: str, message_id: str, timestamp: datetime, body: str) -> str:
    return Webhook(secret).sign(message_id, timestamp, body)


class WebhookSender:
    """One HTTP client per process for every delivery. Proxies from the environment are ignored: a
    proxy would resolve the name itself, past the address guard."""

    def __init__(self, *, timeout_seconds: float) -> None:
        self._client: httpx.AsyncClient | None = None
        self._timeout = timeout_seconds

    def _http(self) -> httpx.AsyncClient:
        # Built on the first delivery, not with the runtime: its TLS context costs about 25 ms, which
        # every CLI command and every process that never delivers would pay for nothing.
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            )
        return self._client

    async def post(self, target: Target, *, message_id: str, secret: str, body: str) -> Attempt:
        # The attempt's own moment, on the wall clock: receivers compare it with theirs.
        now = datetime.now(UTC)
        host = f"[{target.address}]" if ":" in target.address else target.address
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": target.url.netloc.decode(),
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(secret, message_id, now, body),
        }
        client = self._http()
        request = client.build_request(
            "POST",
            target.url.copy_with(host=host),
            headers=headers,
            content=body.encode(),
            extensions={"sni_hostname": target.host} if target.url.scheme == "https" else {},
        )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                response = await client.send(request, stream=True)
                try:
                    await _read_bounded(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return Attempt(False, None, f"no answer within {self._timeout:g} s", _since(started))
        except httpx.HTTPError as error:
            return Attempt(False, None, f"{type(error).__name__}: {error}"[:300], _since(started))
        latency = _since(started)
        code = response.status_code
        if 200 <= code < 300:
            return Attempt(True, code, None, latency)
        if 300 <= code < 400:
            return Attempt(False, code, "redirects are not followed", latency)
        return Attempt(False, code, f"answered {code}", latency)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _read_bounded(response: httpx.Response) -> None:
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read >= MAX_RESPONSE_BYTES:
            return


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
