"""Fixtures for the run engine: the fake OpenAI-compatible model server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_openai import FakeOpenAI


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The session's fake server with no scripts and no recorded requests."""
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()
