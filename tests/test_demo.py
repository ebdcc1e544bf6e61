"""`seecodes demo` against a real server process: the whole Jira App → IDE → run flow."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from seecodes.demo import DEMO_INSTALLATION
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.stack import Stack

pytestmark = pytest.mark.slow
DEV = {"SEECODES_ENV": "dev", "SEECODES_FORGE_JWKS_URL": "", "SEECODES_FORGE_APP_ID": ""}


@pytest.fixture(scope="module")
def fake_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as model:
        yield model


@pytest.fixture(scope="module")
def dev_stack(fake_model: FakeOpenAI) -> Iterator[Stack]:
    """A server trusting this machine's dev key, as `make run` does."""
    with Stack(backend="sqlite", model_base_url=fake_model.base_url, settings=DEV) as stack:
        yield stack


def test_the_demo_runs_the_whole_flow_and_prints_the_output_and_credits(
    dev_stack: Stack, fake_model: FakeOpenAI
) -> None:
    fake_model.script(
        "fake-light", Reply("1. The login flow now uses permits.\n2. Friday risk: nobody on call.")
    )

    printed = dev_stack.cli("demo", "--url", dev_stack.base_url, "--timeout", "60")

    sent = fake_model.requests_for("fake-light")[-1]
    assert "Release checklist" in sent.content("user")
    assert "1. The login flow now uses permits." in printed
    assert "launch code exchanged for a task permit on DEMO/DEMO-1" in printed
    assert "sc_launch_…" in printed
    installation = f"ari:cloud:ecosystem::installation/{DEMO_INSTALLATION}"
    ledger = dev_stack.ledger(installation)
    assert [kind for kind, _reference, _delta in ledger] == ["grant", "reserve", "settle"]
    charged = -sum(delta for kind, _reference, delta in ledger if kind != "grant")
    assert f"credits used: {charged}; installation balance: {200 - charged}" in printed
    # A second demo finds enough credit and grants nothing more.
    dev_stack.cli("demo", "--url", dev_stack.base_url, "--timeout", "60")
    assert [kind for kind, _r, _d in dev_stack.ledger(installation)].count("grant") == 1


def test_the_demo_says_when_the_server_is_not_there(dev_stack: Stack) -> None:
    with pytest.raises(RuntimeError, match=re.escape("cannot reach http://127.0.0.1:9/")):
        dev_stack.cli("demo", "--url", "http://127.0.0.1:9/")
