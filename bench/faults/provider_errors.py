"""Fault drill: the model provider answers 429, 500, or never. Runs retry within bounds, then fail
with the provider's reason, and their reserved credits come back.

Run from the repository root:

    .venv/bin/python bench/faults/provider_errors.py [--json PATH]

An embedded deployment on loopback (tests.support.stack) with SEECODES_PROVIDER_MAX_RETRIES=2 and
SEECODES_RUN_TIMEOUT_SECONDS=8, against the fake OpenAI-compatible server scripted per scenario:

- ``429 then ok``: one 429 with Retry-After 1 s, then an answer → succeeded after the wait;
- ``429 always``: 429 with Retry-After 1 s on every call → failed naming the rate limit;
- ``500 always``: 500 on every call → failed with the provider's message;
- ``never answers``: the provider accepts the request and sends nothing → failed by the run timeout.

For each: final status, error, provider calls (bounded: 1 + retries), time to settle, and the
ledger (one reserve; a release for failures, a settle for success; balance back where it was).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.fake_openai import Fail, FakeOpenAI, Hang, Reply, Step  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

MAX_RETRIES = 2
RUN_TIMEOUT_SECONDS = 8
RATE_LIMITED = Fail(429, "Rate limit reached for requests", retry_after=1, error_type="rate_limit_exceeded")
BROKEN = Fail(500, "The fake provider is having a bad day.")


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    expect_status: str
    expect_in_error: str | None  # a piece of the provider's reason the user must read
    max_calls: int


SCENARIOS = (
    Scenario("429 then ok", (RATE_LIMITED, Reply("fine now")), "succeeded", None, 2),
    Scenario("429 always", (RATE_LIMITED,), "failed", "429", 1 + MAX_RETRIES),
    Scenario("500 always", (BROKEN,), "failed", "bad day", 1 + MAX_RETRIES),
    Scenario("never answers", (Hang(),), "failed", "timed out", 1 + MAX_RETRIES),
)


@dataclass
class Outcome:
    scenario: str
    status: str
    error: str | None
    provider_calls: int
    settle_s: float
    ledger: dict[str, int]
    balance_restored: bool
    problems: list[str]


def run_scenario(stack: Stack, model: FakeOpenAI, scenario: Scenario) -> Outcome:
    model.reset()
    model.script("fake-light", *scenario.steps)
    client = stack.client()
    try:
        permit = client.permit()
        before = client.jira("GET", "/v1/jira/usage").json()["availableCredits"]
        began = time.monotonic()
        run_id = client.start_run(permit)
        final = client.wait_for(permit, run_id, within=RUN_TIMEOUT_SECONDS * (MAX_RETRIES + 2) + 30)
        elapsed = time.monotonic() - began
        after = client.jira("GET", "/v1/jira/usage").json()["availableCredits"]
    finally:
        client.close()
    calls = len(model.requests_for("fake-light"))
    movements = Counter(kind for kind, reference, _delta in stack.ledger() if reference == run_id)
    problems: list[str] = []
    if final["status"] != scenario.expect_status:
        problems.append(f"ended {final['status']}, expected {scenario.expect_status}")
    error = final.get("error") or ""
    if scenario.expect_in_error and scenario.expect_in_error not in error:
        problems.append(f"error {error!r} does not say {scenario.expect_in_error!r}")
    if calls > scenario.max_calls:
        problems.append(f"{calls} provider calls, bound is {scenario.max_calls}")
    expected_ledger = {"reserve": 1, "settle" if scenario.expect_status == "succeeded" else "release": 1}
    if dict(movements) != expected_ledger:
        problems.append(f"ledger {dict(movements)}, expected {expected_ledger}")
    restored = after == before if scenario.expect_status == "failed" else after < before
    if not restored:
        problems.append(f"balance {before} → {after}")
    return Outcome(
        scenario=scenario.name,
        status=final["status"],
        error=final.get("error"),
        provider_calls=calls,
        settle_s=round(elapsed, 2),
        ledger=dict(movements),
        balance_restored=restored,
        problems=problems,
    )


def drill() -> list[Outcome]:
    settings = {
        "SEECODES_PROVIDER_MAX_RETRIES": str(MAX_RETRIES),
        "SEECODES_RUN_TIMEOUT_SECONDS": str(RUN_TIMEOUT_SECONDS),
    }
    outcomes: list[Outcome] = []
    with (
        FakeOpenAI() as model,
        Stack(backend="sqlite", model_base_url=model.base_url, settings=settings) as stack,
    ):
        first = stack.client()
        first.permit()  # the installation exists from its first Jira App call on
        first.close()
        stack.grant(1000)
        for scenario in SCENARIOS:
            outcome = run_scenario(stack, model, scenario)
            verdict = "ok" if not outcome.problems else "FAIL: " + "; ".join(outcome.problems)
            print(
                f"{scenario.name:<14} → {outcome.status} after {outcome.settle_s:.1f} s, "
                f"{outcome.provider_calls} provider call(s), ledger {outcome.ledger}, "
                f"error {outcome.error!r}: {verdict}",
                flush=True,
            )
            outcomes.append(outcome)
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    outcomes = drill()
    failed = [outcome for outcome in outcomes if outcome.problems]
    print(f"provider drill: {len(outcomes) - len(failed)}/{len(outcomes)} {'PASS' if not failed else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps([asdict(outcome) for outcome in outcomes], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
