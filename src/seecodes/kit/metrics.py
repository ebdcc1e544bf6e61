"""Prometheus metrics. With several uvicorn workers, `seecodes serve` sets
PROMETHEUS_MULTIPROC_DIR before the workers start, and /metrics aggregates every process."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from seecodes.config import metrics_multiprocess_dir

HTTP_REQUESTS = Counter(
    "seecodes_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "seecodes_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REQUESTS_SHED = Counter(
    "seecodes_http_requests_shed_total", "Requests answered 503 at once because the process was at capacity"
)
CREDENTIAL_REFUSALS = Counter(
    "seecodes_credential_refusals_total", "Credentials refused, by error code", ["code"]
)


def render() -> tuple[bytes, str]:
    if metrics_multiprocess_dir():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
