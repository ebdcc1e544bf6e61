"""Bounds for free-form JSON the contract leaves open (jiraContext, initialTaiDoc, …)."""

from __future__ import annotations

from typing import Any

import orjson

MAX_JSON_DEPTH = 32


def bounded_document(value: Any, *, max_bytes: int, name: str) -> Any:
    if value is None:
        return None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"{name} is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as error:  # an integer beyond 64 bits, a lone surrogate
        raise ValueError(f"{name} holds a value JSON consumers cannot read back: {error}") from None
    if size > max_bytes:
        raise ValueError(f"{name} is larger than {max_bytes} bytes")
    return value


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(item, level + 1) for item in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(item, level + 1) for item in value), default=level)
    return level
