"""The retention sweep: rows no rule needs any more are deleted, a small batch at a time.

Each table keeps its rows for as long as a rule still reads them (docs/decisions.md, "Reliability
at scale"):

* request keys: every key of a chain while the chain lives, so a replayed or stolen key still
  revokes it (DESIGN.md §4 rule 4). A chain is dead once its newest key has expired: nothing in it
  can be consumed again, and revoking it would change nothing. Each installation's newest chain
  stays until it starts another: its newest key says when its Jira App last called.
* launch codes: until expired and the permit they minted has expired too (a replay revokes that
  permit, rule 7).
* task permits: until `expired_credentials` after their expiry, for `admin permits list --all`
  (a permit without its row is refused anyway); enrollment tokens likewise.
* Jira OAuth states: until they expire.
* telemetry events: `telemetry` after they occurred, never while their requestId still refuses a
  replay (events older than the maximum age are refused by their timestamp, whatever their id).
* webhook deliveries: `webhook_deliveries` after they were created, once settled (delivered or
  failed); a pending one is never deleted under its workflow.

A batch is one transaction of at most `batch` rows: SQLite has one writer connection per process,
and every write waits behind a long delete. A sweep runs at most `max_batches` per table, so a
backlog (the first sweep of a large database) is worked off over several ticks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.db import Database
from seecodes.kit.clock import Clock
from seecodes.retention import repository
from seecodes.webhooks import repository as webhooks

# A batch is the longest any write waits for the sweep on SQLite: 500 request keys (six indexes
# each) held its writer 19 ms (median; 36 ms at most) while a day of keys was worked off
# (bench/retention_bench.py). 100 batches a minute per table is 833 rows/s, more than the fastest
# request-key chain this server sustains (600 req/s, docs/benchmarks.md).
BATCH = 500
MAX_BATCHES = 100
# Expiry is judged by each process's own clock: a row is not deleted the moment it expires.
CLOCK_MARGIN = timedelta(minutes=5)
# Telemetry: past the maximum event age, one more day before a requestId is let go.
TELEMETRY_REPLAY_MARGIN = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Windows:
    """The retention settings the rules take (the rest of each window follows from the rules)."""

    expired_credentials: timedelta
    telemetry: timedelta
    telemetry_max_event_age: timedelta
    webhook_deliveries: timedelta = timedelta(days=30)

    @property
    def telemetry_kept(self) -> timedelta:
        return max(self.telemetry, self.telemetry_max_event_age + TELEMETRY_REPLAY_MARGIN)


Batch = Callable[[AsyncSession, int], Awaitable[int]]


async def sweep(
    db: Database, clock: Clock, windows: Windows, *, batch: int = BATCH, max_batches: int = MAX_BATCHES
) -> dict[str, int]:
    """Rows deleted per table. Each batch reads the clock when it starts, and stands alone: what it
    deletes is allowed by its own cutoff, whatever a concurrent sweep did."""
    if batch < 2:
        raise ValueError("a batch holds at least a dead chain's newest key and one more")

    def expired(since: timedelta = timedelta(0)) -> datetime:
        return clock.utcnow() - CLOCK_MARGIN - since

    async def request_keys(session: AsyncSession, limit: int) -> int:
        return await _dead_chains_batch(session, expired_before=expired(), limit=limit)

    async def launch_codes(session: AsyncSession, limit: int) -> int:
        return await repository.delete_launch_codes(session, expired_before=expired(), limit=limit)

    async def permits(session: AsyncSession, limit: int) -> int:
        return await repository.delete_permits(
            session, expired_before=expired(windows.expired_credentials), limit=limit
        )

    async def enrollment_tokens(session: AsyncSession, limit: int) -> int:
        return await repository.delete_enrollment_tokens(
            session, expired_before=expired(windows.expired_credentials), limit=limit
        )

    async def oauth_states(session: AsyncSession, limit: int) -> int:
        return await repository.delete_oauth_states(session, expired_before=expired(), limit=limit)

    async def telemetry_events(session: AsyncSession, limit: int) -> int:
        return await repository.delete_telemetry_events(
            session, occurred_before=clock.utcnow() - windows.telemetry_kept, limit=limit
        )

    async def webhook_deliveries(session: AsyncSession, limit: int) -> int:
        return await webhooks.delete_settled(
            session, created_before=clock.utcnow() - windows.webhook_deliveries, limit=limit
        )

    # Launch codes before permits: a code's rule reads the permit it minted.
    tables: dict[str, Batch] = {
        "jira_request_keys": request_keys,
        "launch_codes": launch_codes,
        "task_permits": permits,
        "enrollment_tokens": enrollment_tokens,
        "jira_oauth_states": oauth_states,
        "telemetry_events": telemetry_events,
        "webhook_deliveries": webhook_deliveries,
    }
    return {table: await _in_batches(db, delete, batch, max_batches) for table, delete in tables.items()}


async def _in_batches(db: Database, delete: Batch, batch: int, max_batches: int) -> int:
    deleted = 0
    for _ in range(max_batches):
        async with db.transaction() as session:
            went = await delete(session, batch)
        deleted += went
        if went == 0:
            break
    return deleted


async def _dead_chains_batch(session: AsyncSession, *, expired_before: datetime, limit: int) -> int:
    """One batch of dead chains: their consumed keys first, and a chain's newest key only once the
    rest of it is gone, so a chain interrupted half-way is still found dead by the next batch."""
    heads = await repository.dead_chain_heads(
        session, expired_before=expired_before, limit=max(1, limit // 10)
    )
    if not heads:
        return 0
    room = limit - len(heads)
    # One more than there is room for says whether these chains are done with this batch.
    spent = await repository.spent_keys_of(session, [chain for _, chain in heads], limit=room + 1)
    deleted = await repository.delete_request_keys(session, spent[:room], expired_before=expired_before)
    if len(spent) <= room:
        deleted += await repository.delete_request_keys(
            session, [key for key, _ in heads], expired_before=expired_before
        )
    return deleted
