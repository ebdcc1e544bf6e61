"""Keep the garbage collector's full collections off the request path.

What the server builds at start-up (the imported libraries, the app, its routes and models: some
350,000 objects) lives until the process ends, but CPython's full collection walks all of it each
time: 280 ms on this machine, a stall every busy request saw as its p99. `settle()` collects once
and moves everything alive to the permanent generation, so later collections walk only what was
allocated since (docs/decisions.md, "Full collections off the request path"). `unsettle()` gives
it back, so a process that builds many apps (the tests) still frees the ones it is done with.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
from collections.abc import Callable
from typing import cast

from seecodes.kit.logging import get_logger

_log = get_logger("seecodes.heap")


def settle() -> None:
    gc.collect()
    gc.freeze()


def unsettle() -> None:
    gc.unfreeze()


# How often an executing process hands freed heap back to the system (see below).
TRIM_INTERVAL_SECONDS = 10.0


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None on another C library (musl, macOS): nothing to do there."""
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return cast("Callable[[int], int]", trim)


async def return_freed_memory(interval_seconds: float = TRIM_INTERVAL_SECONDS) -> None:
    """Hand the heap glibc keeps after frees back to the system, every `interval_seconds`.

    A run worker allocates and frees a few MiB per run in native code (the provider's HTTP and
    TLS buffers, the result archive's zlib state, the drivers' result buffers); glibc keeps what
    was freed in its arenas, so the worker's RSS rose 10-15 % over a 600 s soak while its live
    Python objects stayed flat (tracemalloc: under 1 MiB difference) and RSS fell back at each
    `malloc_trim(0)` (docs/decisions.md, "Run worker memory"). MALLOC_ARENA_MAX=2 alone did not
    help (+13.6 %). A call's cost grows with the free heap it walks (48 ms on a heap with 200 MiB
    freed), so it runs in a thread: ctypes releases the GIL, and the event loop goes on."""
    trim = _malloc_trim()
    if trim is None:
        return
    while True:
        await asyncio.sleep(interval_seconds)
        released = await asyncio.to_thread(trim, 0)
        _log.debug("heap_trimmed", released=bool(released))
