"""Overload shedding (kit/admission.py): a bounded number in flight, a short wait, then 503 at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from seecodes.kit.admission import Admission, AdmissionMiddleware


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("never happened")


def _app(admission: Admission, release: asyncio.Event, entered: list[str]) -> AdmissionMiddleware:
    async def slow(request: Request) -> PlainTextResponse:
        entered.append(request.url.path)
        await release.wait()
        return PlainTextResponse("done")

    async def health(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = [
        Route("/work/{n}", slow, methods=["GET", "POST"]),
        Route("/healthz", health),
        Route("/readyz", health),
        Route("/v1/tasks/run_1/events", slow),
    ]
    return AdmissionMiddleware(Starlette(routes=routes), admission=admission, retry_after_seconds=2)


async def test_past_the_limit_a_request_is_shed_at_once_with_retry_after() -> None:
    release, entered = asyncio.Event(), []
    app = _app(Admission(limit=2, wait_seconds=0), release, entered)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        busy = [asyncio.create_task(client.post(f"/work/{n}")) for n in range(2)]
        await _until(lambda: len(entered) == 2)

        shed = await client.post("/work/3")

        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "2"
        assert shed.json() == {
            "ok": False,
            "error": "service_unavailable",
            "detail": "The server is at capacity; nothing was done. Retry after the Retry-After seconds.",
            "retryAfterSeconds": 2,
        }
        assert "/work/3" not in entered  # nothing was done
        # Health, readiness and event streams are never shed.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        stream = asyncio.create_task(client.get("/v1/tasks/run_1/events"))
        await _until(lambda: "/v1/tasks/run_1/events" in entered)
        release.set()
        assert [reply.status_code for reply in await asyncio.gather(*busy, stream)] == [200, 200, 200]
        assert (await client.post("/work/4")).status_code == 200  # slots came back


async def test_a_waiting_request_gets_the_next_free_slot_first_come_first_served() -> None:
    admission = Admission(limit=1, wait_seconds=5)
    assert await admission.enter()
    order: list[int] = []

    async def wait(number: int) -> None:
        assert await admission.enter()
        order.append(number)
        admission.leave()

    waiters = []
    for number in range(3):
        waiters.append(asyncio.create_task(wait(number)))
        await asyncio.sleep(0.01)
    assert admission.in_flight == 1
    admission.leave()
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2]
    assert admission.in_flight == 0


async def test_a_wait_that_runs_out_is_shed_and_leaves_no_slot_behind() -> None:
    admission = Admission(limit=1, wait_seconds=0.05)
    assert await admission.enter()
    assert not await admission.enter()
    admission.leave()
    assert admission.in_flight == 0
    assert await admission.enter()


async def test_a_waiter_whose_client_left_does_not_keep_a_slot() -> None:
    admission = Admission(limit=1, wait_seconds=5)
    assert await admission.enter()
    gone = asyncio.create_task(admission.enter())
    await asyncio.sleep(0.01)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    admission.leave()
    assert admission.in_flight == 0


async def test_many_waits_running_out_while_slots_free_up_lose_no_slot() -> None:
    """A burst: waiters time out while `leave` hands slots over; every slot comes back."""
    admission = Admission(limit=4, wait_seconds=0.01)

    async def request() -> bool:
        if not await admission.enter():
            return False
        await asyncio.sleep(0.005)
        admission.leave()
        return True

    outcomes = await asyncio.gather(*(request() for _ in range(500)))
    assert True in outcomes
    assert False in outcomes
    assert admission.in_flight == 0
    assert all(await asyncio.gather(*(request() for _ in range(4))))
