"""Offline token counting: cl100k_base, identical to tiktoken, with nothing to download."""

from __future__ import annotations

import socket

import pytest

from seecodes.runs.tokens import ENCODING, count_tokens, count_tokens_many


def test_counts_match_tiktoken_cl100k() -> None:
    # Reference counts from tiktoken's cl100k_base (OpenAI cookbook: "tiktoken is great!" is 6).
    assert ENCODING == "cl100k_base"
    assert count_tokens("tiktoken is great!") == 6
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0


def test_many_texts_are_counted_in_order() -> None:
    texts = ["hello world", "", "tiktoken is great!", "def f(x):\n    return x * 2\n"]

    assert count_tokens_many(texts) == [count_tokens(text) for text in texts]
    assert count_tokens_many([]) == []


def test_special_token_text_counts_as_ordinary_text() -> None:
    # An upload that contains "<|endoftext|>" must not shrink to one token or be refused.
    assert count_tokens("<|endoftext|>") > 1


def test_counting_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("token counting tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)

    assert count_tokens("offline" + " offline" * 999) == 1000
