"""Reading /metrics as Prometheus does: families and samples, parsed by prometheus_client's parser."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clock import FixedClock

# The shared state is cached this long by the app's clock (app.SHARED_STATE_TTL_SECONDS): a test that
# must see a fresh read moves its clock past it.
PAST_THE_CACHE = 3.0


@dataclass(frozen=True)
class Scrape:
    families: list[Metric]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        return cls(list(text_string_to_metric_families(text)))

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        return [
            (sample.name, sample.labels, sample.value)
            for family in self.families
            for sample in family.samples
        ]

    def get(self, name: str, **labels: str) -> float | None:
        """The sample with exactly these labels, or None when the scrape has none."""
        for sample_name, sample_labels, value in self.samples():
            if sample_name == name and sample_labels == labels:
                return value
        return None

    def value(self, name: str, **labels: str) -> float:
        """A sample that must be there (a gauge, or a counter already counted)."""
        found = self.get(name, **labels)
        assert found is not None, f"no sample {name}{labels} in the scrape"
        return found

    def count(self, name: str, **labels: str) -> float:
        """A counter's (or a histogram's) value; 0 before its first event, as Prometheus reads it."""
        return self.get(name, **labels) or 0.0

    def names(self) -> set[str]:
        """Every name a query may use: families, and each family's sample names."""
        names = {family.name for family in self.families}
        names |= {name for name, _, _ in self.samples()}
        for family in self.families:
            if family.type == "counter":
                names.add(family.name + "_total")
            elif family.type == "histogram":
                names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
        return names


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.count(name, **labels) - before.count(name, **labels)


async def scrape(client: httpx.AsyncClient, clock: FixedClock | None = None) -> Scrape:
    """/metrics now; with `clock`, moved past the shared-state cache first, so the gauges are fresh."""
    if clock is not None:
        clock.advance(PAST_THE_CACHE)
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return Scrape.parse(response.text)
