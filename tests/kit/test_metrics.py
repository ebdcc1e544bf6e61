"""kit/metrics.py: shared-state gauges for every catalog model, a bounded read rate, the worker endpoint."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from seecodes.kit import metrics
from tests.support.live_server import free_port

STATUSES = ["initialized", "queued", "in_process", "processing_remote"]


class _Only:
    """A collector of just these families, rendered as /metrics renders them."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        return self.families


def _samples(families: list[Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(_Only(families)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_every_catalog_model_and_unsettled_status_has_a_gauge_even_at_zero() -> None:
    state = metrics.SharedState(
        runs={("fast", "queued"): 2, ("retired", "in_process"): 1},
        oldest_queued_seconds={"fast": 12.5},
        jira_backlog=3,
        jira_oldest_pending_seconds=40,
    )

    samples = _samples(
        metrics.shared_state_families(state, models=["fast", "slow"], statuses=STATUSES, queued="queued")
    )

    assert samples[("seecodes_runs", (("model", "fast"), ("status", "queued")))] == 2
    assert samples[("seecodes_runs", (("model", "slow"), ("status", "queued")))] == 0
    # A model gone from the catalog still has runs: they are shown, not hidden.
    assert samples[("seecodes_runs", (("model", "retired"), ("status", "in_process")))] == 1
    assert samples[("seecodes_run_queue_depth", (("model", "fast"),))] == 2
    assert samples[("seecodes_run_queue_depth", (("model", "slow"),))] == 0
    assert samples[("seecodes_run_queue_oldest_age_seconds", (("model", "fast"),))] == 12.5
    assert samples[("seecodes_run_queue_oldest_age_seconds", (("model", "slow"),))] == 0
    assert samples[("seecodes_jira_writeback_backlog", ())] == 3
    assert samples[("seecodes_jira_writeback_oldest_pending_age_seconds", ())] == 40
    assert samples[("seecodes_shared_state_up", ())] == 1


def test_a_failed_read_shows_only_that_it_failed() -> None:
    samples = _samples(
        metrics.shared_state_families(None, models=["fast"], statuses=STATUSES, queued="queued")
    )

    assert samples == {("seecodes_shared_state_up", ()): 0}


async def test_the_shared_state_is_read_at_most_once_per_ttl_however_often_it_is_asked() -> None:
    cache = metrics.SharedStateCache(ttl_seconds=2)
    now = [100.0]
    reads: list[float] = []

    async def read() -> metrics.SharedState:
        reads.append(now[0])
        await asyncio.sleep(0.01)  # concurrent askers wait for this read rather than start their own
        return metrics.SharedState(jira_backlog=len(reads))

    first = await asyncio.gather(*(cache.get(lambda: now[0], read) for _ in range(5)))
    now[0] = 101.5
    cached = await cache.get(lambda: now[0], read)
    now[0] = 102.0
    fresh = await cache.get(lambda: now[0], read)

    assert [state.jira_backlog for state in first if state] == [1] * 5
    assert cached == metrics.SharedState(jira_backlog=1)
    assert fresh == metrics.SharedState(jira_backlog=2)
    assert reads == [100.0, 102.0]


async def test_a_clock_that_went_back_reads_again() -> None:
    cache = metrics.SharedStateCache(ttl_seconds=2)
    reads: list[float] = []

    async def read() -> metrics.SharedState:
        reads.append(0)
        return metrics.SharedState()

    await cache.get(lambda: 100.0, read)
    await cache.get(lambda: 90.0, read)

    assert len(reads) == 2


async def test_the_endpoint_serves_this_process_metrics_until_closed() -> None:
    port = free_port()
    endpoint = metrics.MetricsEndpoint("127.0.0.1", port)
    metrics.JIRA_WRITEBACKS_GIVEN_UP.inc(0)

    served = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics")
    endpoint.close()
    endpoint.close()  # twice is harmless

    assert served.status_code == 200
    assert "seecodes_jira_writebacks_given_up_total" in served.text
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_an_endpoint_on_a_port_in_use_raises() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()

        with pytest.raises(OSError, match="in use"):
            metrics.MetricsEndpoint("127.0.0.1", holder.getsockname()[1])
