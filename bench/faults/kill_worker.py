"""Fault drill: kill -9 the worker executing a run, restart it, and check how every run ends.

Run from the repository root:

    .venv/bin/python bench/faults/kill_worker.py [--trials 20] [--json PATH]

A PostgreSQL deployment on loopback (tests.support.stack): one `seecodes serve` that only enqueues
and two `seecodes worker` processes. The fake model streams each answer over ~2 s. Each trial starts
a run, waits a random 0–2.5 s (so the kill lands anywhere from the claim to after the answer), finds
the worker DBOS assigned the run to, kills it with SIGKILL and restarts it under the same worker id,
as a process supervisor would. Then, per run:

- it ends `succeeded` (or `failed` with a non-empty error) within 90 s: none stays stuck;
- the ledger holds exactly one `reserve` and exactly one `settle` or `release` for it;
- a succeeded run has one usage row and the complete answer as its output (never a partial one).

Prints one line per trial and a summary line `kill-9 drill: N/N PASS`; exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.fake_openai import FakeOpenAI, Reply  # noqa: E402
from tests.support.stack import Stack, StackClient, Worker  # noqa: E402

ANSWER = "## Done\n" + "- a line of the streamed answer\n" * 20
STREAM = Reply(ANSWER, chunk_chars=32, chunk_delay=0.1)  # ~2 s per answer, every call
KILL_WINDOW_SECONDS = 2.5
SETTLE_WITHIN_SECONDS = 90.0


@dataclass
class Trial:
    number: int
    run_id: str
    killed_after_s: float
    status_at_kill: str
    final_status: str
    error: str | None
    recovery_s: float
    ledger: dict[str, int]
    usage_rows: int
    output_complete: bool
    problems: list[str]


def _executor(stack: Stack, run_id: str) -> Worker | None:
    """The worker DBOS handed the run's workflow to (the workflow id is the run id)."""
    rows = stack.rows("SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = ?", run_id)
    owner = rows[0][0] if rows else None
    return next((worker for worker in stack.workers if worker.worker_id == owner), None)


def restart_under_its_id(stack: Stack, victim: Worker, _number: int) -> None:
    """What a process supervisor does: the same worker id, so DBOS recovers its runs on launch."""
    stack.kill_worker(victim)
    stack.start_worker(victim)


def run_trial(
    stack: Stack,
    client: StackClient,
    permit: str,
    number: int,
    rng: random.Random,
    crash: Callable[[Stack, Worker, int], None] = restart_under_its_id,
) -> Trial:
    """Start a run, crash its executor with `crash` at a random moment, and check how it ends."""
    run_id = client.start_run(permit)
    delay = rng.uniform(0, KILL_WINDOW_SECONDS)
    time.sleep(delay)
    status_at_kill = client.status(permit, run_id)["status"]
    victim = _executor(stack, run_id) or rng.choice([worker for worker in stack.workers if worker.alive()])
    killed_at = time.monotonic()
    crash(stack, victim, number)
    problems: list[str] = []
    try:
        final = client.wait_for(permit, run_id, within=SETTLE_WITHIN_SECONDS)
    except TimeoutError as stuck:
        final = client.status(permit, run_id)
        problems.append(str(stuck))
    recovery = time.monotonic() - killed_at
    movements = Counter(kind for kind, reference, _delta in stack.ledger() if reference == run_id)
    usage_rows = len(stack.rows("SELECT 1 FROM usage_items WHERE run_id = ?", run_id))
    output = client.http.get(f"/v1/tasks/{run_id}/output", headers={"Authorization": f"Bearer {permit}"})
    complete = output.status_code == 200 and output.text == ANSWER
    if movements["reserve"] != 1:
        problems.append(f"{movements['reserve']} reservations")
    if movements["settle"] + movements["release"] != 1:
        problems.append(f"settled {movements['settle']}× and released {movements['release']}×")
    if final["status"] == "succeeded":
        if usage_rows != 1:
            problems.append(f"{usage_rows} usage rows")
        if not complete:
            problems.append("output is not the complete answer")
    elif final["status"] == "failed":
        if not final.get("error"):
            problems.append("failed without an error")
    else:
        problems.append(f"ended {final['status']}")
    return Trial(
        number=number,
        run_id=run_id,
        killed_after_s=round(delay, 2),
        status_at_kill=status_at_kill,
        final_status=final["status"],
        error=final.get("error"),
        recovery_s=round(recovery, 2),
        ledger=dict(movements),
        usage_rows=usage_rows,
        output_complete=complete,
        problems=problems,
    )


def drill(trials: int, seed: int = 7) -> list[Trial]:
    rng = random.Random(seed)
    results: list[Trial] = []
    with (
        FakeOpenAI() as model,
        Stack(backend="postgres", model_base_url=model.base_url, run_workers=2) as stack,
    ):
        model.script("fake-light", STREAM)
        client = stack.client()
        try:
            permit = client.permit()
            stack.grant(100 * trials)
            for number in range(1, trials + 1):
                trial = run_trial(stack, client, permit, number, rng)
                print_trial(trial)
                results.append(trial)
        finally:
            client.close()
    return results


def print_trial(trial: Trial) -> None:
    verdict = "ok" if not trial.problems else "FAIL: " + "; ".join(trial.problems)
    print(
        f"trial {trial.number:>2}: killed after {trial.killed_after_s:.2f} s ({trial.status_at_kill}) → "
        f"{trial.final_status} in {trial.recovery_s:.1f} s, ledger {trial.ledger}: {verdict}",
        flush=True,
    )


def summary(name: str, results: list[Trial]) -> str:
    failed = [trial for trial in results if trial.problems]
    recoveries = sorted(trial.recovery_s for trial in results)
    kinds = Counter(trial.status_at_kill for trial in results)
    return (
        f"{name}: {len(results) - len(failed)}/{len(results)} {'PASS' if not failed else 'FAIL'}; "
        f"killed while {dict(kinds)}; ended {dict(Counter(t.final_status for t in results))}; "
        f"kill → settled median {recoveries[len(recoveries) // 2]:.1f} s, max {recoveries[-1]:.1f} s"
    )


def arguments(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    return parser


def main() -> int:
    args = arguments(__doc__).parse_args()
    results = drill(args.trials, args.seed)
    print(summary("kill-9 drill", results))
    if args.json:
        args.json.write_text(json.dumps([asdict(trial) for trial in results], indent=2))
    return 1 if any(trial.problems for trial in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
