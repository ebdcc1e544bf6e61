"""`seecodes serve`, counting every SQL statement the process sends (bench/sse_bench.py).

    SEECODES_BENCH_STATEMENTS_FILE=/tmp/count .venv/bin/python bench/counted_serve.py --port 8080

A class-level SQLAlchemy listener sees each statement of every engine in the process (the app's, the
run engine's): SQLite keeps no server-side counters, and this needs no change to seecodes. A
daemon thread writes the running total to `$SEECODES_BENCH_STATEMENTS_FILE.<pid>` ten times a
second. One process only: with uvicorn workers the statements of the children are not counted.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

WRITE_EVERY_SECONDS = 0.1
_statements = 0


@event.listens_for(Engine, "before_cursor_execute")
def _count(*_args: Any) -> None:
    global _statements
    _statements += 1


def _publish(path: Path) -> None:
    while True:
        path.write_text(str(_statements))
        time.sleep(WRITE_EVERY_SECONDS)


def main() -> None:
    target = Path(f"{os.environ['SEECODES_BENCH_STATEMENTS_FILE']}.{os.getpid()}")
    threading.Thread(target=_publish, args=(target,), daemon=True, name="statement-counter").start()
    from seecodes.cli import app

    sys.argv = ["seecodes", "serve", *sys.argv[1:]]
    app()


if __name__ == "__main__":
    main()
