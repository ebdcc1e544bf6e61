"""Model providers behind one protocol (base.py), and `build_provider` to make one for a catalog entry.

The providers' SDKs (anthropic, openai) are imported when a provider is first built, or by `preload`,
not when this package is: together they cost about 1.4 s of CPU at import, which every CLI command
and every API process that only enqueues used to pay for nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import httpx2

from seecodes.config import Settings, provider_api_key
from seecodes.runs.providers.base import (
    ModelProvider,
    ProviderError,
    ProviderKind,
    StreamEvent,
    TextDelta,
    Usage,
)
from seecodes.runs.providers.local import LocalProvider
from seecodes.runs.providers.measured import MeasuredProvider, count_error

if TYPE_CHECKING:
    from seecodes.runs.catalog import ModelSpec

__all__ = [
    "ModelProvider",
    "ProviderError",
    "ProviderKind",
    "StreamEvent",
    "TextDelta",
    "Usage",
    "build_provider",
    "preload",
]

_SDK_MODULES = ("seecodes.runs.providers.anthropic_provider", "seecodes.runs.providers.openai_compat")


def preload() -> None:
    """Import the SDKs now: a process about to execute runs pays at start, not at its first run."""
    for name in _SDK_MODULES:
        importlib.import_module(name)


# Sent to keyless OpenAI-compatible servers (Ollama, vLLM without --api-key): the SDK insists on one.
_NO_KEY = "no-key"


def build_provider(
    spec: ModelSpec, settings: Settings, *, http_client: httpx2.AsyncClient | None = None
) -> ModelProvider:
    """A provider for one catalog entry; `close()` it when done. The key is read here, at build time.

    Raises ProviderError when the entry's key variable is not set. `http_client` is for tests.
    Every call through it is measured (measured.py).
    """
    try:
        built = _build(spec, settings, http_client)
    except ProviderError as error:
        count_error(spec.id, spec.provider.kind.value, error)
        raise
    return MeasuredProvider(built, model=spec.id, provider=spec.provider.kind.value)


def _build(spec: ModelSpec, settings: Settings, http_client: httpx2.AsyncClient | None) -> ModelProvider:
    provider = spec.provider
    if provider.kind is ProviderKind.LOCAL:
        return LocalProvider(max_context=spec.max_context, threads=settings.local_model_threads)
    key = provider_api_key(provider.api_key_env) if provider.api_key_env else None
    if provider.api_key_env and key is None:
        raise ProviderError(f"the environment variable {provider.api_key_env} is not set", kind="no_key")
    timeout = httpx2.Timeout(
        settings.provider_timeout_seconds, connect=min(10.0, settings.provider_timeout_seconds)
    )
    if provider.kind is ProviderKind.ANTHROPIC:
        import anthropic

        from seecodes.runs.providers.anthropic_provider import AnthropicProvider

        assert key is not None  # the catalog requires api_key_env for anthropic
        return AnthropicProvider(
            anthropic.AsyncAnthropic(
                api_key=key.get_secret_value(),
                base_url=provider.base_url,
                max_retries=settings.provider_max_retries,
                timeout=timeout,
                http_client=http_client,
            ),
            model=provider.model,
            api_key=key,
            timeout_seconds=settings.provider_timeout_seconds,
        )
    import openai

    from seecodes.runs.providers.openai_compat import OpenAICompatibleProvider

    return OpenAICompatibleProvider(
        openai.AsyncOpenAI(
            api_key=key.get_secret_value() if key else _NO_KEY,
            base_url=provider.base_url,
            max_retries=settings.provider_max_retries,
            timeout=timeout,
            http_client=http_client,
        ),
        model=provider.model,
        api_key=key,
        timeout_seconds=settings.provider_timeout_seconds,
        max_tokens_param=provider.max_tokens_param,
    )
