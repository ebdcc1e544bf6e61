"""The OpenAI-compatible provider against the fake model server, over real HTTP on loopback."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from seecodes.config import Settings
from seecodes.kit.logging import redact
from seecodes.runs.catalog import ModelSpec, Pricing, ProviderSpec, load_catalog
from seecodes.runs.providers import ProviderError, ProviderKind, TextDelta, Usage, build_provider
from seecodes.runs.providers.base import ModelProvider
from seecodes.runs.tokens import count_tokens
from tests.support.fake_openai import Fail, FakeOpenAI, Hang, Reply, StreamError, write_models_file
from tests.support.live_server import free_port

KEY_ENV = "SEECODES_TEST_FAKE_OPENAI_KEY"
KEY = "sk-test-Zq8v1Lr0T5secretvalue"
SYSTEM = "You are a careful engineer."
USER = "Summarise list.md in one line."


@pytest.fixture(autouse=True)
def provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def make_provider(
    base_url: str, model: str, *, retries: int = 0, timeout: float = 10, **provider: Any
) -> ModelProvider:
    spec = ModelSpec(
        id="fake",
        max_context=32000,
        pricing=Pricing(base=1, per_token=0.001),
        provider=ProviderSpec(
            kind=ProviderKind.OPENAI, model=model, base_url=base_url, api_key_env=KEY_ENV, **provider
        ),
    )
    settings = Settings(env="test", provider_max_retries=retries, provider_timeout_seconds=timeout)
    return build_provider(spec, settings)


async def collect(
    provider: ModelProvider, max_output_tokens: int = 64, into: list[TextDelta | Usage] | None = None
) -> list[TextDelta | Usage]:
    events = [] if into is None else into
    try:
        async for event in provider.stream(SYSTEM, USER, max_output_tokens=max_output_tokens):
            events.append(event)
    finally:
        await provider.close()
    return events


async def test_streams_deltas_then_the_reported_usage_last(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        "gpt-stream",
        Reply("Hello from the fake model.", chunk_chars=5, prompt_tokens=111, completion_tokens=7),
    )

    events = await collect(make_provider(fake_openai.base_url, "gpt-stream"))

    deltas = [event for event in events if isinstance(event, TextDelta)]
    assert len(deltas) > 1
    assert "".join(delta.text for delta in deltas) == "Hello from the fake model."
    assert events[-1] == Usage(input_tokens=111, output_tokens=7)
    assert sum(isinstance(event, Usage) for event in events) == 1


async def test_request_carries_the_prompt_the_limit_and_the_key_as_bearer(fake_openai: FakeOpenAI) -> None:
    await collect(make_provider(fake_openai.base_url, "gpt-request"), max_output_tokens=99)

    (request,) = fake_openai.requests_for("gpt-request")
    assert request.path == "/v1/chat/completions"
    assert [message["role"] for message in request.messages] == ["system", "user"]
    assert (request.content("system"), request.content("user")) == (SYSTEM, USER)
    assert request.stream is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["max_tokens"] == 99
    assert request.authorization == f"Bearer {KEY}"


async def test_max_completion_tokens_is_sent_when_the_catalog_asks(fake_openai: FakeOpenAI) -> None:
    provider = make_provider(fake_openai.base_url, "o-model", max_tokens_param="max_completion_tokens")

    await collect(provider, max_output_tokens=50)

    (request,) = fake_openai.requests_for("o-model")
    assert request.body["max_completion_tokens"] == 50
    assert "max_tokens" not in request.body


async def test_usage_is_counted_locally_when_the_server_reports_none(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("no-usage", Reply("Counted here, not there.", usage=False))

    events = await collect(make_provider(fake_openai.base_url, "no-usage"))

    assert events[-1] == Usage(
        input_tokens=count_tokens(SYSTEM) + count_tokens(USER),
        output_tokens=count_tokens("Counted here, not there."),
    )


async def test_429_with_retry_after_is_retried_after_the_wait_then_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("busy", Fail(429, "Rate limit reached", retry_after=1), Reply("Made it."))

    events = await collect(make_provider(fake_openai.base_url, "busy", retries=2))

    first, second = fake_openai.requests_for("busy")
    assert second.received_at - first.received_at >= 0.95  # Retry-After: 1, not the 0.5 s backoff
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Made it."


async def test_persistent_500_fails_after_max_retries_plus_one_attempts_with_the_reason(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script("broken", Fail(500, "The upstream model crashed"))

    with pytest.raises(ProviderError) as failed:
        await collect(make_provider(fake_openai.base_url, "broken", retries=2))

    assert len(fake_openai.requests_for("broken")) == 3
    assert failed.value.reason == "provider returned 500: The upstream model crashed"
    assert failed.value.status == 500


async def test_400_is_not_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("picky", Fail(400, "max_tokens is too large", error_type="invalid_request_error"))

    with pytest.raises(ProviderError, match="provider returned 400: max_tokens is too large"):
        await collect(make_provider(fake_openai.base_url, "picky", retries=3))

    assert len(fake_openai.requests_for("picky")) == 1


async def test_slow_reply_within_the_timeout_streams_to_the_end(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("slow", Reply("one two three", chunk_chars=4, first_delay=0.4, chunk_delay=0.3))

    events = await collect(make_provider(fake_openai.base_url, "slow", timeout=1))

    # Four gaps of 0.3-0.4 s exceed the 1 s timeout in total: the limit is per wait, not per reply.
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two three"


async def test_stream_stalling_past_the_timeout_fails_without_waiting_for_it(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("stall", Reply("too late", first_delay=5))
    started = time.monotonic()

    with pytest.raises(ProviderError) as failed:
        await collect(make_provider(fake_openai.base_url, "stall", retries=2, timeout=0.5))

    assert failed.value.reason == "provider did not answer within 0.5 s"
    assert time.monotonic() - started < 3
    assert len(fake_openai.requests_for("stall")) == 1  # a started stream is not replayed


async def test_provider_that_never_answers_fails_after_its_retries(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("silent", Hang())
    started = time.monotonic()

    with pytest.raises(ProviderError, match=r"^provider did not answer within 0.5 s$"):
        await collect(make_provider(fake_openai.base_url, "silent", retries=1, timeout=0.5))

    assert len(fake_openai.requests_for("silent")) == 2
    assert time.monotonic() - started < 5


async def test_error_event_inside_the_stream_fails_with_the_providers_message(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script("flaky", StreamError(text="Partial", message="The model server ran out of memory"))
    seen: list[TextDelta | Usage] = []

    with pytest.raises(ProviderError) as failed:
        await collect(make_provider(fake_openai.base_url, "flaky"), into=seen)

    assert seen == [TextDelta("Partial")]
    assert failed.value.reason == "provider reported an error: The model server ran out of memory"


async def test_unreachable_provider_fails_with_a_connection_reason() -> None:
    provider = make_provider(f"http://127.0.0.1:{free_port()}/v1", "nobody-home")

    with pytest.raises(ProviderError, match=r"^could not reach the provider: "):
        await collect(provider)


async def test_the_key_never_appears_in_the_error_or_the_logs(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_openai.script(
        "auth", Fail(401, f"Incorrect API key provided: {KEY}. Find yours at platform.openai.com")
    )

    with pytest.raises(ProviderError) as failed:
        await collect(make_provider(fake_openai.base_url, "auth", retries=1))

    assert fake_openai.requests_for("auth")[0].authorization == f"Bearer {KEY}"
    assert failed.value.reason == (
        "provider returned 401: Incorrect API key provided: [redacted]. Find yours at platform.openai.com"
    )
    assert KEY not in caplog.text
    assert KEY[8:20] not in caplog.text


def test_missing_key_variable_refuses_to_build_a_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)

    with pytest.raises(ProviderError, match=f"the environment variable {KEY_ENV} is not set"):
        make_provider("http://127.0.0.1:9/v1", "any")


async def test_keyless_endpoint_gets_a_placeholder_bearer(fake_openai: FakeOpenAI) -> None:
    spec = ModelSpec(
        id="ollama",
        max_context=4096,
        pricing=Pricing(base=0, per_token=0),
        provider=ProviderSpec(kind=ProviderKind.OPENAI, model="keyless", base_url=fake_openai.base_url),
    )

    await collect(build_provider(spec, Settings(env="test")))

    assert fake_openai.requests_for("keyless")[0].authorization == "Bearer no-key"


def test_log_scrubber_cuts_provider_keys_that_slip_into_a_line() -> None:
    line = f"retrying with Authorization: Bearer {KEY} for task-management-system"

    assert redact(line) == "retrying with Authorization: Bearer sk-[redacted] for task-management-system"


async def test_fake_server_answers_non_streaming_requests_too(fake_openai: FakeOpenAI) -> None:
    fake_openai.script("plain", Reply("In one piece.", prompt_tokens=5, completion_tokens=4))
    client = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key=KEY, max_retries=0)

    completion = await client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "hi"}], max_tokens=10
    )
    await client.close()

    assert completion.choices[0].message.content == "In one piece."
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (5, 4)
    assert fake_openai.requests_for("plain")[0].stream is False


async def test_models_file_helper_points_a_catalog_at_the_fake(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    path = write_models_file(
        tmp_path / "models.toml", fake_openai.base_url, {"strict": "fake-strict"}, api_key_env=KEY_ENV
    )
    fake_openai.reply("fake-strict", "From the catalog.")
    spec = load_catalog(path).usable("strict")

    events = await collect(build_provider(spec, Settings(env="test")))

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "From the catalog."
    assert fake_openai.requests_for("fake-strict")[0].authorization == f"Bearer {KEY}"
