"""kit/heap.py: freed native heap goes back to the system (the run workers' RSS, issue 14)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from seecodes.kit import heap

PROBE = """
import gc
from seecodes.kit import heap

def rss_mib():
    with open("/proc/self/status") as status:
        return int(next(l for l in status if l.startswith("VmRSS")).split()[1]) // 1024

blocks = [bytearray(2048 + i % 3000) for i in range(80_000)]
keep = blocks[::50]  # a few live blocks pin the arenas' tops, as a worker's live objects do
del blocks
gc.collect()
before = rss_mib()
heap._malloc_trim()(0)
print(before, rss_mib())
"""


def test_trimming_hands_freed_heap_back() -> None:
    if heap._malloc_trim() is None:
        pytest.skip("not glibc: nothing to trim")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    before, after = map(int, out.stdout.split())
    assert after < before - 50, (before, after)  # ~200 MiB freed but held before the trim


async def test_the_periodic_trim_runs_and_stops_when_cancelled() -> None:
    import asyncio

    task = asyncio.create_task(heap.return_freed_memory(interval_seconds=0.01))
    await asyncio.sleep(0.05)
    assert not task.done()  # still trimming (an exception would have ended it)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
