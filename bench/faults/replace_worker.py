"""Fault drill: workers replaced under new names lose no run; a SIGTERM hands runs back at once.

Run from the repository root:

    .venv/bin/python bench/faults/replace_worker.py [--trials 20] [--sigterm-trials 3] [--json PATH]

Two rounds, each on a PostgreSQL deployment on loopback (tests.support.stack): one `seecodes serve`
that only enqueues and two `seecodes worker` processes; the fake model streams each answer over
~2 s.

1. kill -9 (liveness timeout 5 s): each trial starts a run, waits a random 0–2.5 s, kills the
   worker executing it and starts a replacement under a **new** `SEECODES_WORKER_ID`, as
   Kubernetes or a second host would. The dead id never comes back, so only the live workers'
   sweep can take its run over.
2. SIGTERM (liveness timeout 120 s): each trial stops the worker executing a run cleanly and
   starts a replacement under a new id; the run must settle long before the timeout, because a
   stopping worker hands its runs back.

Per run, as in kill_worker.py: it ends `succeeded` (or `failed` with an error), the ledger holds one
`reserve` and one `settle` or `release`, a succeeded run has one usage row and the whole answer.
Prints a line per trial and a summary per round; exits non-zero on any failure.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "faults"))

from kill_worker import STREAM, Trial, arguments, print_trial, run_trial, summary  # noqa: E402
from tests.support.fake_openai import FakeOpenAI  # noqa: E402
from tests.support.stack import Stack, Worker  # noqa: E402

KILL_TIMEOUT_SECONDS = 5
SIGTERM_TIMEOUT_SECONDS = 120
# A SIGTERM must not wait for the liveness timeout: the run settles within this (its answer takes ~2 s).
SIGTERM_SETTLES_WITHIN_SECONDS = 15.0


# The replacement boots while the run is taken over (by whichever live worker sweeps first), as a
# new pod would; its boot is not part of what the run waits for.
def kill_and_replace(stack: Stack, victim: Worker, number: int) -> None:
    stack.kill_worker(victim)
    stack.add_worker(f"replacement-{number}", wait=False)


def stop_and_replace(stack: Stack, victim: Worker, number: int) -> None:
    stack.stop_worker(victim)
    stack.add_worker(f"replacement-{number}", wait=False)


def round_of(
    trials: int, rng: random.Random, *, timeout_seconds: int, crash: str, first: int = 1
) -> list[Trial]:
    results: list[Trial] = []
    settings = {"SEECODES_WORKER_LIVENESS_TIMEOUT_SECONDS": str(timeout_seconds)}
    with (
        FakeOpenAI() as model,
        Stack(backend="postgres", model_base_url=model.base_url, run_workers=2, settings=settings) as stack,
    ):
        model.script("fake-light", STREAM)
        client = stack.client()
        try:
            permit = client.permit()
            stack.grant(100 * trials)
            for number in range(first, first + trials):
                if crash == "kill":
                    trial = run_trial(stack, client, permit, number, rng, kill_and_replace)
                else:
                    trial = run_trial(stack, client, permit, number, rng, stop_and_replace)
                    if trial.recovery_s > SIGTERM_SETTLES_WITHIN_SECONDS:
                        trial.problems.append(
                            f"settled {trial.recovery_s:.1f} s after the SIGTERM: it waited for the timeout"
                        )
                print_trial(trial)
                results.append(trial)
        finally:
            client.close()
    return results


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--sigterm-trials", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    killed = round_of(args.trials, rng, timeout_seconds=KILL_TIMEOUT_SECONDS, crash="kill")
    stopped = round_of(
        args.sigterm_trials,
        rng,
        timeout_seconds=SIGTERM_TIMEOUT_SECONDS,
        crash="sigterm",
        first=args.trials + 1,
    )
    print(summary(f"replaced after kill -9 (liveness timeout {KILL_TIMEOUT_SECONDS} s)", killed))
    print(summary(f"replaced after SIGTERM (liveness timeout {SIGTERM_TIMEOUT_SECONDS} s)", stopped))
    if args.json:
        args.json.write_text(json.dumps([asdict(trial) for trial in killed + stopped], indent=2))
    return 1 if any(trial.problems for trial in killed + stopped) else 0


if __name__ == "__main__":
    raise SystemExit(main())
