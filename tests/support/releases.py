"""The previous release's code, from this checkout's git history, for upgrade tests.

"The previous release" is the code the newest migration upgrades from: on HEAD's first-parent
history, the first parent of the commit that added the newest migration file (a merge counts as
adding what it brought in). Its schema head is that migration's `down_revision`. While the newest
migration is not committed yet, HEAD itself is the previous release.

The code is extracted with `git archive` (no worktree, nothing written into the repository) and run
by this checkout's interpreter with PYTHONPATH pointing at its `src/`, so both releases share the
same installed dependencies. A shallow clone lacks that history: it is fetched once (a clone of a
local checkout needs no network), and if that fails the caller fails, saying so,
rather than skipping an upgrade test that CI must run.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

from seecodes.migrations import alembic_config

REPOSITORY = Path(__file__).resolve().parents[2]


class HistoryUnavailable(RuntimeError):
    """The checkout cannot say what the previous release was (no git, or a shallow clone)."""


@dataclass(frozen=True, slots=True)
class Release:
    commit: str
    source: Path  # its src/, first on PYTHONPATH to run it
    schema_head: str  # the migration revision it knows last


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPOSITORY), *args], capture_output=True, text=True, check=False, timeout=60
        )
    except FileNotFoundError as error:
        raise HistoryUnavailable("git is not installed") from error
    if done.returncode != 0:
        raise HistoryUnavailable(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def newest_migration() -> tuple[str, str | None, Path]:
    """(revision, down_revision, file) of this code's newest migration."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_revision(script.get_current_head() or "")
    assert head is not None
    assert head.path is not None
    down = head.down_revision
    assert down is None or isinstance(down, str), "the migrations branch; an upgrade test expects one line"
    return head.revision, down, Path(head.path)


def previous_release(directory: Path) -> Release:
    """Extract the previous release's code into `directory`."""
    if _git("rev-parse", "--is-inside-work-tree") != "true":
        raise HistoryUnavailable(f"{REPOSITORY} is not a git checkout")
    if _git("rev-parse", "--is-shallow-repository") == "true":
        # A clone of a local checkout (as CI makes) can fetch its history without a network.
        subprocess.run(
            ["git", "-C", str(REPOSITORY), "fetch", "--quiet", "--unshallow"], check=False, timeout=120
        )
    if _git("rev-parse", "--is-shallow-repository") == "true":
        raise HistoryUnavailable(
            "this clone is shallow, so the previous release's code is not in it: "
            "`git fetch --unshallow` (or clone without --depth)"
        )
    revision, down_revision, path = newest_migration()
    if down_revision is None:
        raise HistoryUnavailable(f"migration {revision} is the first one: there is no previous release")
    relative = path.resolve().relative_to(REPOSITORY)
    added = _git("log", "--first-parent", "-m", "--diff-filter=A", "--format=%H", "--", str(relative))
    # Oldest last: the commit that first brought the file onto this line.
    commit = _git("rev-parse", f"{added.splitlines()[-1]}^1") if added else _git("rev-parse", "HEAD")
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", "--format=tar", commit, "src"],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    source = directory / "src"
    versions = {file.name for file in (source / "seecodes/migrations/versions").glob("*.py")}
    ours = {file.name for file in path.parent.glob("*.py")}
    if versions != ours - {path.name}:
        raise HistoryUnavailable(
            f"{commit[:12]} is not the release before migration {revision}: its migrations differ "
            f"from this code's by more than {path.name} ({sorted(versions ^ ours)})"
        )
    return Release(commit=commit, source=source, schema_head=down_revision)
