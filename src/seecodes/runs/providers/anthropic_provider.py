"""Anthropic's Messages API, streamed; usage comes from the final message.

Retries are the SDK's, with the same policy as the OpenAI SDK's (see openai_compat.py): bounded by
`provider_max_retries`, exponential backoff with jitter, Retry-After honoured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import httpx2
from pydantic import SecretStr

from seecodes.runs.providers.base import StreamEvent, TextDelta, Usage
from seecodes.runs.providers.reasons import connection_error, reported_error, status_error, timeout_error


class AnthropicProvider:
    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        *,
        model: str,
        api_key: SecretStr | None,
        timeout_seconds: float,
    ) -> None:
        self._client = client
        self._model = model
        self._key = api_key  # only to cut it out of error text
        self._timeout = timeout_seconds

    async def stream(self, system: str, user: str, *, max_output_tokens: int) -> AsyncIterator[StreamEvent]:
        try:
            async with self._client.messages.stream(
                model=self._model,
                max_tokens=max_output_tokens,
                system=system or anthropic.omit,
                messages=[{"role": "user", "content": user}],
            ) as stream:
                async for text in stream.text_stream:
                    if text:
                        yield TextDelta(text)
                final = await stream.get_final_message()
        except anthropic.APIStatusError as error:
            message = error.api_message or error.message
            if error.status_code < 400:  # an `error` event inside a stream that had started fine
                raise reported_error(message, self._key) from None
            raise status_error(error.status_code, message, self._key) from None
        except (anthropic.APITimeoutError, httpx2.TimeoutException):
            raise timeout_error(self._timeout) from None
        except (anthropic.APIConnectionError, httpx2.TransportError) as error:
            raise connection_error(error, self._key) from None
        except anthropic.APIError as error:
            raise reported_error(error.message, self._key) from None
        usage = final.usage
        yield Usage(
            input_tokens=usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0),
            output_tokens=usage.output_tokens,
        )

    async def close(self) -> None:
        await self._client.close()
