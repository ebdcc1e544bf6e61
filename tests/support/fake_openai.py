"""A fake OpenAI-compatible model server on loopback: real HTTP, scripted replies, recorded requests.

It runs uvicorn in a daemon thread of the test process (so it ends with the process) on a port the
OS picks. Each provider model name has a script: a list of steps played one per request, the last
step repeating. A model with no script answers instantly, which is what benchmarks want.

    fake_openai.script("gpt-test", Fail(429, retry_after=0.2), Reply("Hello there"))
    ... run something against fake_openai.base_url with model "gpt-test" ...
    assert fake_openai.requests_for("gpt-test")[-1].authorization == "Bearer sk-test"

Steps: Reply (streamed in chunks, or one JSON body when the client does not stream; optional delays
and usage), Fail (a status with an OpenAI-shaped error body, optional Retry-After), Hang (accept
the request and never answer, until the client gives up), StreamError (start streaming, then send
an error event).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import toktok
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

HANG_LIMIT_SECONDS = 120.0  # a Hang never outlives this, even if the client never gives up


@dataclass(frozen=True)
class Reply:
    text: str = "Fake answer."
    chunk_chars: int = 8  # characters per streamed delta
    first_delay: float = 0.0  # seconds after the response headers, before the first delta
    chunk_delay: float = 0.0  # seconds between deltas
    # Streamed replies: after the first delta, wait until this is set (a run held in flight at will).
    hold: threading.Event | None = None
    usage: bool = True  # send the final usage chunk (when the client asks for it)
    prompt_tokens: int | None = None  # None: counted with cl100k over the request's messages
    completion_tokens: int | None = None  # None: counted with cl100k over `text`


@dataclass(frozen=True)
class Fail:
    status: int
    message: str = "The fake provider failed."
    retry_after: float | None = None  # seconds, sent as Retry-After
    error_type: str = "server_error"


@dataclass(frozen=True)
class Hang:
    """Read the request and send nothing, not even headers."""


@dataclass(frozen=True)
class StreamError:
    """Stream `text` as deltas, then an in-stream error event instead of the end."""

    text: str = "Partial"
    message: str = "The fake provider broke mid-stream."


Step = Reply | Fail | Hang | StreamError


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    max_tokens: int | None
    headers: Mapping[str, str]
    body: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    def content(self, role: str) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == role)


class FakeOpenAI:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Step]] = {}
        self._requests: list[RecordedRequest] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- scripting ---------------------------------------------------------------------------
    def script(self, model: str, *steps: Step) -> None:
        """Play `steps` one per request to `model`; the last one repeats."""
        if not steps:
            raise ValueError("a script needs at least one step")
        with self._lock:
            self._scripts[model] = list(steps)

    def reply(self, model: str, text: str, **options: Any) -> None:
        self.script(model, Reply(text, **options))

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.model == model]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _next_step(self, model: str) -> Step:
        with self._lock:
            steps = self._scripts.get(model)
            if not steps:
                return Reply(f"Fake answer from {model}.", chunk_chars=1 << 20)
            return steps.pop(0) if len(steps) > 1 else steps[0]

    # -- serving -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> FakeOpenAI:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat_completions, methods=["POST"])])
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-openai", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)

    async def _chat_completions(self, request: Request) -> Response:
        body = await request.json()
        model = str(body.get("model", ""))
        recorded = RecordedRequest(
            path=request.url.path,
            model=model,
            messages=list(body.get("messages", [])),
            stream=bool(body.get("stream")),
            max_tokens=body.get("max_tokens", body.get("max_completion_tokens")),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
        )
        with self._lock:
            self._requests.append(recorded)
        step = self._next_step(model)
        if isinstance(step, Fail):
            return _error(step)
        if isinstance(step, Hang):
            await _hang(request)
            return Response(status_code=504)
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if isinstance(step, StreamError):
            return _sse(_broken_stream(model, step))
        if not recorded.stream:
            return JSONResponse(_completion(model, step, recorded))
        return _sse(_stream(model, step, recorded, wants_usage))

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def write_models_file(path: Path, base_url: str, models: Mapping[str, str], **options: Any) -> Path:
    """A SEECODES_MODELS_FILE whose aliases (keys) map to provider model names (values) on the fake.

    `options` go into every [models.provider] table (e.g. api_key_env="FAKE_OPENAI_KEY").
    """
    lines = []
    for alias, model in models.items():
        lines += [
            "[[models]]",
            f"id = {json.dumps(alias)}",
            "max_context = 32000",
            f"description = {json.dumps('Fake model ' + model)}",
            "pricing = { base = 10, per_token = 0.001 }",
            "concurrency = 4",
            "max_output_tokens = 256",
            "[models.provider]",
            'kind = "openai"',
            f"model = {json.dumps(model)}",
            f"base_url = {json.dumps(base_url)}",
            *(f"{name} = {json.dumps(value)}" for name, value in options.items()),
            "",
        ]
    path.write_text("\n".join(lines))
    return path


def _count(text: str) -> int:
    return int(toktok.batch_count([text], "cl100k_base", threads=1)[0]) if text else 0


def _usage(step: Reply, request: RecordedRequest) -> dict[str, int]:
    prompt = step.prompt_tokens
    if prompt is None:
        prompt = sum(_count(str(message.get("content", ""))) for message in request.messages)
    completion = step.completion_tokens if step.completion_tokens is not None else _count(step.text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _data(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


def _pieces(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), max(1, size))]


async def _stream(model: str, step: Reply, request: RecordedRequest, wants_usage: bool) -> AsyncIterator[str]:
    yield _data(_chunk(model, {"role": "assistant", "content": ""}))
    if step.first_delay:
        await asyncio.sleep(step.first_delay)
    for index, piece in enumerate(_pieces(step.text, step.chunk_chars)):
        if index and step.chunk_delay:
            await asyncio.sleep(step.chunk_delay)
        if index == 1 and step.hold is not None:
            # A short wait per thread, so a client that hangs up frees it at once.
            while not await asyncio.to_thread(step.hold.wait, 0.05):
                pass
        yield _data(_chunk(model, {"content": piece}))
    yield _data(_chunk(model, {}, finish_reason="stop"))
    if wants_usage and step.usage:
        usage_chunk = {**_chunk(model, {}), "choices": [], "usage": _usage(step, request)}
        yield _data(usage_chunk)
    yield _data("[DONE]")


async def _broken_stream(model: str, step: StreamError) -> AsyncIterator[str]:
    yield _data(_chunk(model, {"role": "assistant", "content": step.text}))
    yield _data({"error": {"message": step.message, "type": "server_error"}})


def _completion(model: str, step: Reply, request: RecordedRequest) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": step.text}, "finish_reason": "stop"}
        ],
        "usage": _usage(step, request),
    }


def _sse(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _error(step: Fail) -> JSONResponse:
    headers = {} if step.retry_after is None else {"Retry-After": f"{step.retry_after:g}"}
    body = {"error": {"message": step.message, "type": step.error_type, "param": None, "code": None}}
    return JSONResponse(body, status_code=step.status, headers=headers)


async def _hang(request: Request) -> None:
    """Return when the client hangs up (the body is read, so the next message is the disconnect)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HANG_LIMIT_SECONDS):
            while (await request.receive())["type"] != "http.disconnect":
                pass
