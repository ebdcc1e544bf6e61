"""The served app moves what start-up built out of the collector's way, and gives it back at shutdown."""

from __future__ import annotations

import gc

from fastapi import FastAPI


async def test_the_lifespan_freezes_the_start_up_heap_and_unfreezes_it_at_shutdown(app: FastAPI) -> None:
    assert gc.get_freeze_count() == 0
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000  # the libraries, the app, its routes and models
    assert gc.get_freeze_count() == 0
