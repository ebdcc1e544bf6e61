"""The Anthropic provider through the real SDK, with httpx2.MockTransport standing in for the API."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import httpx2
import pytest

from seecodes.config import Settings
from seecodes.runs.catalog import ModelSpec, Pricing, ProviderSpec
from seecodes.runs.providers import ProviderError, ProviderKind, TextDelta, Usage, build_provider
from seecodes.runs.providers.base import ModelProvider

KEY_ENV = "SEECODES_TEST_ANTHROPIC_KEY"
KEY = "sk-ant-api03-TESTkey0123456789abcdef"
Handler = Callable[[httpx2.Request], httpx2.Response]


@pytest.fixture(autouse=True)
def provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def make_provider(handler: Handler, *, retries: int = 0, timeout: float = 10) -> ModelProvider:
    spec = ModelSpec(
        id="strict deep",
        max_context=200_000,
        pricing=Pricing(base=50, per_token=0.003),
        provider=ProviderSpec(kind=ProviderKind.ANTHROPIC, model="claude-test", api_key_env=KEY_ENV),
    )
    settings = Settings(env="test", provider_max_retries=retries, provider_timeout_seconds=timeout)
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return build_provider(spec, settings, http_client=client)


async def collect(provider: ModelProvider) -> list[TextDelta | Usage]:
    try:
        return [event async for event in provider.stream("Be brief.", "Say hi.", max_output_tokens=32)]
    finally:
        await provider.close()


def sse(*events: tuple[str, dict[str, object]]) -> httpx2.Response:
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


def message_stream(*texts: str, input_tokens: int = 25, output_tokens: int = 15) -> httpx2.Response:
    message = {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    return sse(
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        *(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            )
            for text in texts
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    )


def api_error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> httpx2.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return httpx2.Response(status, json=body, headers=headers)


async def test_streams_deltas_then_usage_from_the_final_message() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return message_stream("Hello", ", there", input_tokens=25, output_tokens=15)

    events = await collect(make_provider(handler))

    assert events == [TextDelta("Hello"), TextDelta(", there"), Usage(input_tokens=25, output_tokens=15)]
    (request,) = seen
    body = json.loads(request.content)
    assert request.url.path == "/v1/messages"
    assert request.headers["authorization"] == f"Bearer {KEY}"  # this SDK sends the API key as a bearer
    assert (body["model"], body["max_tokens"], body["stream"]) == ("claude-test", 32, True)
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "Say hi."}]


async def test_429_with_retry_after_is_retried_then_succeeds() -> None:
    arrivals: list[float] = []

    def handler(_request: httpx2.Request) -> httpx2.Response:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            return api_error(429, "rate_limit_error", "Rate limited", {"retry-after": "1"})
        return message_stream("Back again")

    events = await collect(make_provider(handler, retries=2))

    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.95
    assert events[0] == TextDelta("Back again")


async def test_persistent_500_fails_after_max_retries_plus_one_attempts() -> None:
    calls = 0

    def handler(_request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        return api_error(500, "api_error", "Internal server error")

    with pytest.raises(ProviderError) as failed:
        await collect(make_provider(handler, retries=2))

    assert calls == 3
    assert failed.value.reason == "provider returned 500: Internal server error"
    assert failed.value.status == 500


async def test_error_event_inside_the_stream_fails_with_its_message() -> None:
    def handler(_request: httpx2.Request) -> httpx2.Response:
        return sse(
            ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        )

    with pytest.raises(ProviderError) as failed:
        await collect(make_provider(handler))

    assert failed.value.reason == "provider reported an error: Overloaded"


async def test_timeouts_are_retried_then_fail_with_the_limit() -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        raise httpx2.ReadTimeout("timed out", request=request)

    with pytest.raises(ProviderError, match=r"^provider did not answer within 3 s$"):
        await collect(make_provider(handler, retries=1, timeout=3))

    assert calls == 2


async def test_the_key_never_appears_in_the_error_or_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def handler(_request: httpx2.Request) -> httpx2.Response:
        return api_error(401, "authentication_error", f"invalid x-api-key: {KEY}")

    with pytest.raises(ProviderError) as failed:
        await collect(make_provider(handler))

    assert failed.value.reason == "provider returned 401: invalid x-api-key: [redacted]"
    assert KEY not in caplog.text
