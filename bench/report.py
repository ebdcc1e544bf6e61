"""`make bench`: run every benchmark and fault drill in bench/ and write docs/benchmarks.md.

    .venv/bin/python bench/report.py [--only NAME,…] [--output docs/benchmarks.md]

Each benchmark is its own script (run alone, it prints the same figures); this runs them one after
another as subprocesses, so one that fails is reported and the rest still run, and writes one
Markdown report: the machine's facts, then per benchmark the command, how long it took, its exit
status, and everything it printed (every figure next to the reference measured in the same run).
The exit status is non-zero when any benchmark failed or missed a goal it checks.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Benchmark:
    name: str
    args: tuple[str, ...]
    about: str


BENCHMARKS = (
    Benchmark(
        "http",
        ("bench/http_bench.py", "--duration", "10"),
        "request-key chains and progress writes vs /healthz, 2 server processes, SQLite and PostgreSQL",
    ),
    Benchmark(
        "lean reference",
        ("bench/lean_bench.py", "--duration", "5"),
        "hot routes vs a lean FastAPI + raw-driver server doing the same work, wrk, 16 connections; SQLite, "
        "PostgreSQL, PostgreSQL with 2 processes; progress POST at 64 connections",
    ),
    Benchmark(
        "sse followers",
        ("bench/sse_bench.py",),
        "database queries/s and server CPU of 200 idle run-event streams, SQLite and PostgreSQL",
    ),
    Benchmark(
        "runs",
        ("bench/run_bench.py",),
        "run dispatch latency, burst throughput and status reads vs /healthz; embedded and PostgreSQL + 2 workers",
    ),
    Benchmark(
        "index",
        ("bench/index_bench.py",),
        "project index upsert and query through the route vs raw DB-API, 10k entries and a 1M-entry project",
    ),
    Benchmark(
        "team competition",
        ("bench/team_competition_bench.py",),
        "the retrospective board over 1M snapshots vs a hand-written GROUP BY",
    ),
    Benchmark(
        "soak",
        ("bench/soak.py", "--duration", "600"),
        "10 minutes of mixed load on PostgreSQL with 2 API processes and 2 workers; every acknowledged write "
        "read back; RSS growth after the warm-up gated at < 10 %",
    ),
    Benchmark(
        "kill -9 drill", ("bench/faults/kill_worker.py", "--trials", "20"), "kill the worker executing a run"
    ),
    Benchmark(
        "PostgreSQL outage drill", ("bench/faults/pg_outage.py",), "PostgreSQL stopped for 10 s under load"
    ),
    Benchmark(
        "provider drill", ("bench/faults/provider_errors.py",), "the model provider answers 429, 500 or never"
    ),
    Benchmark(
        "replaced worker drill",
        ("bench/faults/replace_worker.py", "--trials", "20", "--sigterm-trials", "5"),
        "kill -9 (or SIGTERM) the worker executing a run and replace it under a new worker id",
    ),
    Benchmark(
        "noisy neighbour",
        ("bench/noisy_neighbour.py", "--backlog", "300"),
        "installation B's run behind installation A's 300 queued runs on one model of concurrency 4",
    ),
    Benchmark(
        "overload",
        ("bench/overload.py", "--duration", "30"),
        "progress POSTs arriving at 4× the sustainable rate for 30 s on the embedded server",
    ),
    Benchmark(
        "cli start",
        ("bench/cli_start.py",),
        "wall-clock time of operator commands as fresh processes vs a bare interpreter start, SQLite and "
        "PostgreSQL",
    ),
    Benchmark(
        "webhooks",
        ("bench/webhook_bench.py",),
        "webhook delivery latency after the event (p50/p99) and deliveries per second, vs posting the same "
        "signed requests directly; embedded and PostgreSQL + 1 worker",
    ),
    Benchmark(
        "pruning",
        ("bench/retention_bench.py",),
        "the retention sweep against a day of expired credentials per round; table sizes stay flat and key "
        "consumption on a large table vs a pruned one, SQLite and PostgreSQL",
    ),
)


@dataclass
class Outcome:
    benchmark: Benchmark
    seconds: float
    returncode: int
    output: str


def machine_facts() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    postgres = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    memory_kib = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return [
        f"- measured: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {memory_kib / 1024 / 1024:.0f} GiB",
        f"- Python {platform.python_version()} on {platform.platform()}",
        f"- PostgreSQL {postgres or 'not reachable'} on 127.0.0.1:5432; SQLite {_sqlite_version()}",
        "- everything (servers, workers, load generators, fake model, PostgreSQL) shares these cores, so "
        "absolute figures are lower bounds; each ratio compares two figures from the same run",
    ]


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def run(benchmark: Benchmark) -> Outcome:
    print(f"== {benchmark.name}: {' '.join(benchmark.args)}", flush=True)
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, *benchmark.args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - began
    print(done.stdout, flush=True)
    print(f"== {benchmark.name}: exit {done.returncode} after {seconds:.0f} s", flush=True)
    return Outcome(benchmark, seconds, done.returncode, done.stdout)


def _verdict(outcome: Outcome) -> str:
    """A goal a script prints as MISSED is not hidden behind its exit status."""
    if outcome.returncode != 0:
        return f"**exit {outcome.returncode}**"
    missed = outcome.output.count("MISSED")
    return f"ran; **{missed} goal(s) missed**" if missed else "ok"


def render(outcomes: list[Outcome]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/report.py`); every figure below comes from that one run on this "
        "machine and is reproduced by running it again. Each script also runs alone (its docstring says "
        "how, and what it measures).",
        "",
        "## Machine",
        "",
        *machine_facts(),
        "",
        "## Summary",
        "",
        "| benchmark | what | result | took |",
        "|---|---|---|---|",
        *(
            f"| {o.benchmark.name} | {o.benchmark.about} | {_verdict(o)} | {o.seconds:.0f} s |"
            for o in outcomes
        ),
        "",
    ]
    for outcome in outcomes:
        lines += [
            f"## {outcome.benchmark.name}",
            "",
            f"`{' '.join(['.venv/bin/python', *outcome.benchmark.args])}`: {outcome.benchmark.about}.",
            "",
            "```text",
            outcome.output.rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines)


def _sections(text: str) -> tuple[list[str], dict[str, str]]:
    """The report's '## name' sections in order, and each one's text."""
    names: list[str] = []
    bodies: dict[str, str] = {}
    for chunk in text.split("\n## ")[1:]:
        name = chunk.split("\n", 1)[0].strip()
        names.append(name)
        bodies[name] = "## " + chunk.rstrip() + "\n"
    return names, bodies


def merge(earlier: str, fresh: str) -> str:
    """`--only`: the fresh run's sections and summary rows replace theirs in the earlier report; the
    other benchmarks keep what they last measured (the machine line says when this run was)."""
    old_names, old = _sections(earlier)
    _, new = _sections(fresh)
    summary_rows = {
        row.split("|")[1].strip(): row
        for section in (old.get("Summary", ""), new["Summary"])
        for row in section.splitlines()
        if row.startswith("| ") and not row.startswith("| benchmark")
    }
    order = [b.name for b in BENCHMARKS if b.name in summary_rows]
    head = new["Summary"].split("\n|---|---|---|---|\n")[0]
    summary = "\n".join([head, "|---|---|---|---|", *(summary_rows[name] for name in order)]) + "\n"
    rerun = ", ".join(name for name in order if name in new)
    machine = (
        new["Machine"].rstrip()
        + f"\n- this run measured {rerun}; the other sections are from their last run\n"
    )
    parts = [fresh.split("\n## ")[0].rstrip() + "\n", machine, summary]
    for name in order:
        parts.append(new.get(name) or old[name])
    parts += [old[name] for name in old_names if name not in {"Machine", "Summary", *order}]
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    chosen = {name.strip() for name in args.only.split(",")} if args.only else None
    outcomes = [run(benchmark) for benchmark in BENCHMARKS if chosen is None or benchmark.name in chosen]
    report = render(outcomes)
    if chosen is not None and args.output.exists():
        report = merge(args.output.read_text(), report)
    args.output.write_text(report)
    print(f"wrote {args.output}")
    return 1 if any(outcome.returncode for outcome in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
