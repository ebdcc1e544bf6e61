"""The retention sweep (seecodes.retention): what no rule needs any more is deleted, in bounded
batches; what a rule still reads stays and keeps working. SQLite and PostgreSQL, a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.installations.repository import overview
from seecodes.kit.secrets import hash_secret
from seecodes.models import (
    EnrollmentToken,
    JiraOAuthState,
    JiraRequestKey,
    LaunchCode,
    TaskPermit,
    TelemetryEvent,
)
from seecodes.retention import service
from seecodes.retention.service import CLOCK_MARGIN, Windows
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import INSTALLATION_A, REQUEST_KEY_HEADER, USER_A, FakeForge, JiraAppClient

DAY = 86400
TTL = 300  # SEECODES_REQUEST_KEY_TTL_SECONDS
PAST_MARGIN = int(CLOCK_MARGIN.total_seconds()) + 1
PAST = CLOCK_MARGIN + timedelta(seconds=1)
WINDOWS = Windows(
    expired_credentials=timedelta(days=30),
    telemetry=timedelta(days=400),
    telemetry_max_event_age=timedelta(days=7),
)
LINK = {"projectId": "AUTH", "taskId": "AUTH-128", "userAccountId": USER_A}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Permits outlive the launch codes that minted them here, so a code can be expired while its
    # permit still works.
    return {"permit_ttl_seconds": 3 * DAY}


async def _sweep(app: FastAPI, windows: Windows = WINDOWS, **bounds: int) -> dict[str, int]:
    runtime = runtime_of(app)
    return await service.sweep(runtime.db, runtime.clock, windows, **bounds)


async def _count(app: FastAPI, model: type[Any], *where: Any) -> int:
    async with runtime_of(app).db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _chain_of(app: FastAPI, key: str | None) -> str:
    async with runtime_of(app).db.reading() as session:
        chain = await session.scalar(
            select(JiraRequestKey.chain_id).where(JiraRequestKey.key_hash == hash_secret(str(key)))
        )
    assert chain is not None
    return chain


async def _chain(jira: JiraAppClient, app: FastAPI, uses: int) -> str:
    """A new chain, used `uses` times: `uses` consumed keys and its newest, unconsumed one."""
    await jira.bootstrap()
    for _ in range(uses):
        assert (await jira.call("GET", "/v1/instances/me")).status_code == 200
    return await _chain_of(app, jira.request_key)


def _headers(forge: FakeForge, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {forge.fit()}", REQUEST_KEY_HEADER: key}


@pytest.fixture
def deletes(app: FastAPI) -> Iterator[list[tuple[str, int]]]:
    """(table, rows) of every DELETE the app's database runs."""
    seen: list[tuple[str, int]] = []
    engine = runtime_of(app).db.engine.sync_engine

    def record(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM"):
            seen.append((statement.split()[2].strip('"'), cursor.rowcount))

    event.listen(engine, "after_cursor_execute", record)
    yield seen
    event.remove(engine, "after_cursor_execute", record)


# -- request keys ----------------------------------------------------------------------------------
async def test_a_dead_chain_is_deleted_and_a_live_one_kept(
    jira: JiraAppClient, app: FastAPI, client: httpx.AsyncClient, forge: FakeForge, clock: FixedClock
) -> None:
    dead = await _chain(jira, app, uses=3)
    clock.advance(TTL + PAST_MARGIN)
    other_tab = JiraAppClient(client, forge)
    live = await _chain(other_tab, app, uses=2)

    deleted = await _sweep(app)

    assert deleted["jira_request_keys"] == 4
    assert await _count(app, JiraRequestKey, JiraRequestKey.chain_id == dead) == 0
    assert await _count(app, JiraRequestKey, JiraRequestKey.chain_id == live) == 3
    assert (await other_tab.call("GET", "/v1/instances/me")).status_code == 200


async def test_a_consumed_key_of_a_live_chain_still_revokes_it_after_a_sweep(
    jira: JiraAppClient, app: FastAPI, client: httpx.AsyncClient, forge: FakeForge, clock: FixedClock
) -> None:
    await jira.bootstrap()
    spent = str(jira.request_key)
    for _ in range(10):  # the chain lives on long after its first key expired
        assert (await jira.call("GET", "/v1/instances/me")).status_code == 200
        clock.advance(TTL - 60)

    deleted = await _sweep(app)
    replay = await client.get("/v1/instances/me", headers=_headers(forge, spent))
    after = await jira.call("GET", "/v1/instances/me")

    assert deleted["jira_request_keys"] == 0
    assert replay.status_code == 403
    assert replay.json()["error"] == "request_key_replayed"
    assert after.status_code == 403  # the chain was revoked, its current key with it
    assert after.json()["error"] == "request_key_replayed"


async def test_the_newest_chain_of_an_installation_stays_as_its_last_call(
    jira: JiraAppClient, app: FastAPI, clock: FixedClock
) -> None:
    first = await _chain(jira, app, uses=1)
    clock.advance(TTL + PAST_MARGIN)

    swept = await _sweep(app)
    async with runtime_of(app).db.reading() as session:
        last_seen = (await overview(session, INSTALLATION_A))[0][2]

    assert swept["jira_request_keys"] == 0  # dead, but the installation's newest chain
    assert await _count(app, JiraRequestKey, JiraRequestKey.chain_id == first) == 2
    assert last_seen is not None

    second = await _chain(jira, app, uses=0)
    clock.advance(TTL + PAST_MARGIN)
    swept = await _sweep(app)

    assert swept["jira_request_keys"] == 2
    assert await _count(app, JiraRequestKey, JiraRequestKey.chain_id == first) == 0
    assert await _count(app, JiraRequestKey, JiraRequestKey.chain_id == second) == 1


async def test_of_chains_issued_in_the_same_second_only_the_newest_key_stays(
    jira: JiraAppClient, app: FastAPI, client: httpx.AsyncClient, forge: FakeForge, clock: FixedClock
) -> None:
    first = await _chain(jira, app, uses=2)
    second = await _chain(JiraAppClient(client, forge), app, uses=2)  # the fixed clock has not moved
    clock.advance(TTL + PAST_MARGIN)

    deleted = await _sweep(app)

    assert deleted["jira_request_keys"] == 3
    assert await _count(app, JiraRequestKey, JiraRequestKey.chain_id == first) == 0
    assert await _count(app, JiraRequestKey, JiraRequestKey.chain_id == second) == 3


async def test_a_chain_longer_than_a_batch_goes_over_several_transactions_its_newest_key_last(
    jira: JiraAppClient, app: FastAPI, clock: FixedClock, deletes: list[tuple[str, int]]
) -> None:
    chain = await _chain(jira, app, uses=12)
    newest = hash_secret(str(jira.request_key))
    clock.advance(TTL + PAST_MARGIN)
    newer_chain = await _chain(jira, app, uses=0)  # so the dead chain's newest key may go too

    bounded = await _sweep(app, batch=5, max_batches=1)
    newest_kept = await _count(app, JiraRequestKey, JiraRequestKey.key_hash == newest)
    rest = await _sweep(app, batch=5)

    assert bounded["jira_request_keys"] == 4  # a batch: 4 consumed keys and room for the newest
    assert newest_kept == 1  # 8 consumed keys remain: the chain must still be found dead
    assert rest["jira_request_keys"] == 9
    assert await _count(app, JiraRequestKey, JiraRequestKey.chain_id == chain) == 0
    assert await _count(app, JiraRequestKey, JiraRequestKey.chain_id == newer_chain) == 1
    key_deletes = [rows for table, rows in deletes if table == "jira_request_keys"]
    assert len(key_deletes) >= 4
    assert max(key_deletes) <= 5


# -- launch codes and permits ----------------------------------------------------------------------
async def _launch(jira: JiraAppClient, client: httpx.AsyncClient) -> tuple[str, str]:
    await jira.bootstrap()  # the clock may have moved past the last key
    link = await jira.call("POST", "/v1/security/vscode-link", json=LINK)
    assert link.status_code == 200, link.text
    code = str(link.json()["launchCode"])
    exchanged = await _exchange(client, code)
    assert exchanged.status_code == 200, exchanged.text
    return code, str(exchanged.json()["permit"])


async def _exchange(client: httpx.AsyncClient, code: str) -> httpx.Response:
    return await client.post(
        "/v1/security/launch-exchange", json={"code": code, "projectId": "AUTH", "taskId": "AUTH-128"}
    )


async def _context(client: httpx.AsyncClient, permit: str) -> httpx.Response:
    return await client.get("/v1/tasks/context", headers={"Authorization": f"Bearer {permit}"})


async def test_an_expired_launch_code_stays_while_its_permit_works_and_a_replay_still_revokes_it(
    jira: JiraAppClient, app: FastAPI, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    code, permit = await _launch(jira, client)
    clock.advance(DAY + PAST_MARGIN)  # the code has expired; its permit lives 3 days

    deleted = await _sweep(app)
    replay = await _exchange(client, code)
    after = await _context(client, permit)

    assert deleted["launch_codes"] == 0
    assert replay.status_code == 403
    assert replay.json()["error"] == "launch_code_replayed"
    assert after.status_code == 401


async def test_a_launch_code_goes_once_the_permit_it_minted_has_expired(
    jira: JiraAppClient, app: FastAPI, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    code, _permit = await _launch(jira, client)
    unused = (await jira.call("POST", "/v1/security/vscode-link", json=LINK)).json()["launchCode"]
    clock.advance(3 * DAY + PAST_MARGIN)

    deleted = await _sweep(app)

    assert deleted["launch_codes"] == 2
    assert (
        await _count(app, LaunchCode, LaunchCode.code_hash.in_([hash_secret(code), hash_secret(unused)])) == 0
    )
    assert (await _exchange(client, code)).json()["error"] == "launch_code_invalid"


async def test_permits_go_a_window_after_expiry_and_a_live_one_still_works(
    jira: JiraAppClient, app: FastAPI, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, live = await _launch(jira, client)
    now = clock.utcnow()
    async with runtime_of(app).db.transaction() as session:
        for jti, expired_ago in (
            ("past-window", timedelta(days=1) + PAST),
            ("in-window", timedelta(hours=23)),
        ):
            session.add(
                TaskPermit(
                    jti=jti,
                    installation_id=INSTALLATION_A,
                    project_id="AUTH",
                    task_id="AUTH-128",
                    user_account_id=USER_A,
                    source="direct",
                    issued_at=now - expired_ago - timedelta(days=1),
                    expires_at=now - expired_ago,
                )
            )
    windows = Windows(
        expired_credentials=timedelta(days=1),
        telemetry=WINDOWS.telemetry,
        telemetry_max_event_age=WINDOWS.telemetry_max_event_age,
    )

    deleted = await _sweep(app, windows)

    assert deleted["task_permits"] == 1
    assert await _count(app, TaskPermit, TaskPermit.jti == "past-window") == 0
    assert await _count(app, TaskPermit) == 2
    response = await _context(client, live)
    assert response.status_code != 401, response.text


async def test_enrollment_tokens_go_a_window_after_expiry(app: FastAPI, clock: FixedClock) -> None:
    now = clock.utcnow()
    async with runtime_of(app).db.transaction() as session:
        for name, expired_days_ago in (("old", 31), ("recent", 29), ("live", -1)):
            session.add(
                EnrollmentToken(
                    token_hash=hash_secret(name),
                    cloud_id="cloud",
                    created_at=now - timedelta(days=expired_days_ago + 1),
                    expires_at=now - timedelta(days=expired_days_ago),
                    consumed_at=now if name == "old" else None,
                )
            )

    deleted = await _sweep(app)

    assert deleted["enrollment_tokens"] == 1
    assert await _count(app, EnrollmentToken) == 2


# -- OAuth states, telemetry -----------------------------------------------------------------------
async def _add_states(app: FastAPI, count: int, *, expires_at: datetime) -> None:
    async with runtime_of(app).db.transaction() as session:
        session.add_all(
            JiraOAuthState(
                state_hash=hash_secret(f"state-{expires_at.timestamp()}-{n}"),
                installation_id=INSTALLATION_A,
                actor="operator:1",
                created_at=expires_at - timedelta(minutes=10),
                expires_at=expires_at,
            )
            for n in range(count)
        )


async def test_oauth_states_go_once_expired(jira: JiraAppClient, app: FastAPI, clock: FixedClock) -> None:
    await jira.bootstrap()  # the installation they belong to
    now = clock.utcnow()
    await _add_states(app, 2, expires_at=now - CLOCK_MARGIN - timedelta(seconds=1))
    await _add_states(app, 1, expires_at=now + timedelta(minutes=5))

    deleted = await _sweep(app)

    assert deleted["jira_oauth_states"] == 2
    assert await _count(app, JiraOAuthState) == 1


async def _add_events(session: AsyncSession, *, occurred_days_ago: float, count: int, now: datetime) -> None:
    occurred = now - timedelta(days=occurred_days_ago)
    session.add_all(
        TelemetryEvent(
            installation_id=INSTALLATION_A,
            project_id="AUTH",
            task_id="AUTH-128",
            user_account_id=USER_A,
            permit_jti="jti",
            request_id=f"request-{occurred_days_ago}-{n}",
            event_type="edit",
            occurred_at=occurred,
            received_at=occurred,
        )
        for n in range(count)
    )


async def test_telemetry_events_go_after_their_retention(
    jira: JiraAppClient, app: FastAPI, clock: FixedClock
) -> None:
    await jira.bootstrap()
    async with runtime_of(app).db.transaction() as session:
        await _add_events(session, occurred_days_ago=401, count=3, now=clock.utcnow())
        await _add_events(session, occurred_days_ago=399, count=2, now=clock.utcnow())

    deleted = await _sweep(app)

    assert deleted["telemetry_events"] == 3
    assert await _count(app, TelemetryEvent) == 2


async def test_a_telemetry_request_id_is_kept_while_a_replay_of_it_could_still_be_accepted(
    jira: JiraAppClient, app: FastAPI, clock: FixedClock
) -> None:
    await jira.bootstrap()
    async with runtime_of(app).db.transaction() as session:
        await _add_events(session, occurred_days_ago=7.5, count=1, now=clock.utcnow())  # inside 7 d + 1 d
        await _add_events(session, occurred_days_ago=8.5, count=1, now=clock.utcnow())
    too_short = Windows(
        expired_credentials=WINDOWS.expired_credentials,
        telemetry=timedelta(days=1),
        telemetry_max_event_age=timedelta(days=7),
    )

    deleted = await _sweep(app, too_short)

    assert deleted["telemetry_events"] == 1
    assert await _count(app, TelemetryEvent) == 1


# -- bounds ----------------------------------------------------------------------------------------
async def test_a_table_larger_than_a_batch_is_finished_over_several_transactions(
    jira: JiraAppClient, app: FastAPI, clock: FixedClock, deletes: list[tuple[str, int]]
) -> None:
    await jira.bootstrap()
    await _add_states(app, 25, expires_at=clock.utcnow() - timedelta(hours=1))

    deleted = await _sweep(app, batch=10)

    assert deleted["jira_oauth_states"] == 25
    assert [rows for table, rows in deletes if table == "jira_oauth_states" and rows] == [10, 10, 5]


async def test_a_sweep_deletes_at_most_its_bound_and_the_next_one_goes_on(
    jira: JiraAppClient, app: FastAPI, clock: FixedClock
) -> None:
    await jira.bootstrap()
    await _add_states(app, 25, expires_at=clock.utcnow() - timedelta(hours=1))

    first = await _sweep(app, batch=10, max_batches=2)
    left = await _count(app, JiraOAuthState)
    second = await _sweep(app, batch=10, max_batches=2)

    assert (first["jira_oauth_states"], left, second["jira_oauth_states"]) == (20, 5, 5)
    assert await _count(app, JiraOAuthState) == 0


async def test_a_sweep_with_nothing_to_do_deletes_nothing(jira: JiraAppClient, app: FastAPI) -> None:
    await _chain(jira, app, uses=3)

    deleted = await _sweep(app)

    assert set(deleted.values()) == {0}
