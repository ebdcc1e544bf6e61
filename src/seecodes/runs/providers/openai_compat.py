"""Any OpenAI-compatible chat endpoint (OpenAI, Azure, vLLM, Ollama, LM Studio, a LiteLLM proxy).

Retries are the SDK's: up to `provider_max_retries` more attempts on 408/409/429/5xx and connection
errors, exponential backoff from 0.5 s to 8 s with up to 25 % jitter, and a server's Retry-After
(up to 120 s) honoured instead. They cover the request until the stream starts; a stream that
breaks later fails the run, since its text has already been shown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam
from pydantic import SecretStr

from seecodes.runs.providers.base import StreamEvent, TextDelta, Usage
from seecodes.runs.providers.reasons import connection_error, reported_error, status_error, timeout_error
from seecodes.runs.tokens import count_tokens

MaxTokensParam = Literal["max_tokens", "max_completion_tokens"]


class OpenAICompatibleProvider:
    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str,
        api_key: SecretStr | None,
        timeout_seconds: float,
        max_tokens_param: MaxTokensParam = "max_tokens",
    ) -> None:
        self._client = client
        self._model = model
        self._key = api_key  # only to cut it out of error text
        self._timeout = timeout_seconds
        self._max_tokens_param = max_tokens_param

    async def stream(self, system: str, user: str, *, max_output_tokens: int) -> AsyncIterator[StreamEvent]:
        messages: list[ChatCompletionMessageParam] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": user})
        parts: list[str] = []
        reported: Usage | None = None
        try:
            stream = await self._client.chat.completions.create(
                model=self._model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                max_tokens=max_output_tokens if self._max_tokens_param == "max_tokens" else openai.omit,
                max_completion_tokens=(
                    max_output_tokens if self._max_tokens_param == "max_completion_tokens" else openai.omit
                ),
            )
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        reported = Usage(
                            input_tokens=chunk.usage.prompt_tokens,
                            output_tokens=chunk.usage.completion_tokens,
                        )
                    for choice in chunk.choices:
                        text = choice.delta.content if choice.delta else None
                        if text:
                            parts.append(text)
                            yield TextDelta(text)
        except openai.APIStatusError as error:
            raise status_error(error.status_code, _message(error), self._key) from None
        except (openai.APITimeoutError, httpx2.TimeoutException):
            raise timeout_error(self._timeout) from None
        except (openai.APIConnectionError, httpx2.TransportError) as error:
            raise connection_error(error, self._key) from None
        except openai.APIError as error:  # an error event inside the stream
            raise reported_error(_message(error), self._key) from None
        # Servers that ignore stream_options (older vLLM, some proxies) report nothing: count here.
        yield reported or Usage(
            input_tokens=count_tokens(system) + count_tokens(user),
            output_tokens=count_tokens("".join(parts)),
        )

    async def close(self) -> None:
        await self._client.close()


def _message(error: openai.APIError) -> str:
    body: Any = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body
    return error.message
