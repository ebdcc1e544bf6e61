"""Keep the garbage collector's full collections off the request path.

What the server builds at start-up (the imported libraries, the app, its routes and models: some
350,000 objects) lives until the process ends, but CPython's full collection walks all of it each
time: 280 ms on this machine, a stall every busy request saw as its p99. `settle()` collects once
and moves everything alive to the permanent generation, so later collections walk only what was
allocated since (docs/decisions.md, "Full collections off the request path"). `unsettle()` gives
it back, so a process that builds many apps (the tests) still frees the ones it is done with.
"""

from __future__ import annotations

import gc


def settle() -> None:
    gc.collect()
    gc.freeze()


def unsettle() -> None:
    gc.unfreeze()
