"""Every provider call measured the same way, whatever the provider: latency to the first text and
to the complete answer, and failures by status or kind (kit/metrics.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from seecodes.kit import metrics
from seecodes.runs.providers.base import ModelProvider, ProviderError, StreamEvent, TextDelta


def count_error(model: str, provider: str, error: ProviderError) -> None:
    metrics.PROVIDER_ERRORS.labels(model, provider, error.label).inc()


class MeasuredProvider:
    """`model` is the catalog alias and `provider` the provider's kind: labels from bounded sets."""

    def __init__(self, inner: ModelProvider, *, model: str, provider: str) -> None:
        self._inner = inner
        self._model = model
        self._provider = provider

    async def stream(self, system: str, user: str, *, max_output_tokens: int) -> AsyncIterator[StreamEvent]:
        started = time.perf_counter()
        first_text = True
        events = self._inner.stream(system, user, max_output_tokens=max_output_tokens)
        try:
            async for event in events:
                if first_text and isinstance(event, TextDelta):
                    first_text = False
                    metrics.PROVIDER_FIRST_TOKEN.labels(self._model, self._provider).observe(
                        time.perf_counter() - started
                    )
                yield event
        except ProviderError as error:
            count_error(self._model, self._provider, error)
            raise
        finally:
            # A reader that stops early (a cancelled run) ends the provider's stream now, not at
            # garbage collection: the embedded model frees its lock at the next token.
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
        metrics.PROVIDER_LATENCY.labels(self._model, self._provider).observe(time.perf_counter() - started)

    async def close(self) -> None:
        await self._inner.close()
