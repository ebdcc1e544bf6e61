"""Where the time went, from py-spy's collapsed stacks (`lean_bench.py --profile DIR` writes them).

    .venv/bin/python bench/stacks.py DIR/sqlite-w1-c16-progress-*.txt [--top 40] [--idle]

Prints, per function, the share of samples it is on the stack (inclusive) and at its top (self),
busiest first. Idle samples (a thread waiting in select/epoll or a lock) are left out unless
`--idle`, so the shares are of the CPU the server spent.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_IDLE = re.compile(r"\b(select|poll|epoll_wait|_wait_for_tstate_lock|wait) \(")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--idle", action="store_true", help="count samples of waiting threads too")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in args.files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            frames = [
                frame.split(" (")[0] + " (" + frame.split(" (")[1].split(":")[0] + ")"
                if " (" in frame
                else frame
                for frame in stack.split(";")
            ]
            if not args.idle and frames and _IDLE.search(stack.split(";")[-1]):
                continue
            n = int(count)
            total += n
            for frame in set(frames):
                inclusive[frame] += n
            if frames:
                own[frames[-1]] += n
    print(f"{total} samples")
    print(f"{'incl %':>7} {'self %':>7}  function")
    for frame, n in inclusive.most_common(args.top):
        print(f"{100 * n / total:7.1f} {100 * own[frame] / total:7.1f}  {frame}")
    print("\nbusiest by self time:")
    for frame, n in own.most_common(args.top // 2):
        print(f"{100 * n / total:7.1f}  {frame}")


if __name__ == "__main__":
    main()
