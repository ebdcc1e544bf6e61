"""Offline token counting for estimates, context checks and providers that report no usage.

One encoding for every model: cl100k_base (GPT-4 / GPT-3.5), counted by toktok-rs, whose
vocabularies are compiled into its extension module, so nothing is downloaded, ever. Each model
family tokenizes differently; cl100k is a stable, documented yardstick (within half a percent of
o200k, GPT-4o's, on Python source). Credits are settled on the provider's own counts whenever it
reports them.
"""

from __future__ import annotations

from collections.abc import Sequence

import toktok

ENCODING = "cl100k_base"


def count_tokens(text: str) -> int:
    if not text:
        return 0
    return int(toktok.batch_count([text], ENCODING, threads=1)[0])


def count_tokens_many(texts: Sequence[str]) -> list[int]:
    """One count per text, in order; counting releases the GIL and spreads over the cores."""
    if not texts:
        return []
    return [int(count) for count in toktok.batch_count(list(texts), ENCODING, threads=0)]
