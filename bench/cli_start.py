"""How long an operator waits for a CLI command, against a bare interpreter start in the same run.

    .venv/bin/python bench/cli_start.py [--runs 10] [--src PATH]

Each command runs `--runs` times as a fresh process (as an operator types it), on the embedded
default (a migrated SQLite under a temporary SEECODES_VAR_DIR) and on PostgreSQL (a scratch
database on 127.0.0.1:5432); the median and the slowest wall-clock time are printed, with the
ratio to `python -c pass`. `--src` puts another checkout's `src/` first on the path (to measure an
earlier release with the same interpreter and packages).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("admin", "installations", "list"),
    ("admin", "token", "list"),
    ("jira", "status", "00000000-0000-4000-8000-0000000000ff"),
)


def timed(argv: Sequence[str], env: dict[str, str], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        seconds.append(time.perf_counter() - began)
    return seconds


def line(name: str, seconds: list[float], reference: float) -> str:
    median = statistics.median(seconds)
    return f"  {name:<48} median {median:5.2f} s  max {max(seconds):5.2f} s  {median / reference:5.1f}× bare start"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--src", type=Path, help="another checkout's src/ to measure instead")
    args = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEECODES_")}
    env["SEECODES_ENV"] = "dev"
    if args.src:
        env["PYTHONPATH"] = str(args.src.resolve())
    seecodes = [sys.executable, "-m", "seecodes"]

    reference = statistics.median(timed([sys.executable, "-c", "pass"], env, args.runs))
    print(f"bare interpreter start (python -c pass): median {reference:.3f} s")
    print(f"code: {args.src or 'this checkout'}; {args.runs} runs each")

    with tempfile.TemporaryDirectory() as var_dir:
        embedded = {**env, "SEECODES_VAR_DIR": var_dir}
        subprocess.run([*seecodes, "migrate"], env=embedded, capture_output=True, check=True)
        print("embedded default (SQLite):")
        for command in COMMANDS:
            print(line(" ".join(command), timed([*seecodes, *command], embedded, args.runs), reference))

        name = f"bench_cli_{uuid.uuid4().hex[:8]}"
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            postgres = {
                **env,
                "SEECODES_VAR_DIR": var_dir,
                "SEECODES_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{name}",
            }
            subprocess.run([*seecodes, "migrate"], env=postgres, capture_output=True, check=True)
            print("PostgreSQL:")
            for command in COMMANDS[1:]:
                print(line(" ".join(command), timed([*seecodes, *command], postgres, args.runs), reference))
        finally:
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
