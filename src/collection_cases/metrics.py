"""Prometheus metrics (`prometheus-client`), correct with several worker processes.

`collection-cases serve` points `PROMETHEUS_MULTIPROC_DIR` at a fresh folder before any worker
starts (the client library reads it when it is first imported), so each process writes its
samples there and whichever process answers `GET /metrics` adds them all up. Without that
variable (tests, an embedding app) the process's own registry is served.

Labels are bounded: the route's template (`/v1/collection_cases/{case_id}`, never a raw id),
the method, the status, an outcome from a fixed list.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "collection_cases_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "collection_cases_http_request_duration_seconds",
    "Time from the request's arrival to its answer, by method and route template.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POOL = Gauge(
    "collection_cases_db_pool_connections",
    "Database connections of the pools: size (kept open), in_use, and requests waiting.",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
OUTBOX_PENDING = Gauge(
    "collection_cases_webhook_outbox_pending",
    "Webhook deliveries waiting to be made (read from the database at scrape time).",
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST = Gauge(
    "collection_cases_webhook_outbox_oldest_pending_seconds",
    "Age of the oldest pending webhook delivery (0 when none is pending).",
    multiprocess_mode="mostrecent",
)
DELIVERY_ATTEMPTS = Counter(
    "collection_cases_webhook_delivery_attempts_total",
    "Webhook delivery attempts by outcome (delivered, http_error, no_response, "
    "blocked_destination, endpoint_disabled, internal_error).",
    ["outcome"],
)
IDEMPOTENT_REPLAYS = Counter(
    "collection_cases_idempotent_replays_total",
    "Requests answered with the stored response of their Idempotency-Key.",
)
RATE_LIMITED = Counter(
    "collection_cases_rate_limited_total",
    "Requests refused with 429 because their key went over its rate limit.",
)
GC_FROZEN = Gauge(
    "collection_cases_gc_frozen_objects",
    "Objects built at startup and frozen out of the garbage collector's passes (gc.freeze; "
    "0 with COLLECTION_CASES_GC_FREEZE=false).",
    multiprocess_mode="livesum",
)
UPLOADS = Counter("collection_cases_uploads_total", "Case files stored.")
UPLOAD_BYTES = Counter("collection_cases_upload_bytes_total", "Bytes of case files stored.")

UNMATCHED = "unmatched"


def route_of(scope: MutableMapping[str, Any]) -> str:
    """The template of the route that answered (bounded), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


# The two children of each (method, route, status) seen: `labels()` takes a lock, builds a
# tuple of strings and looks it up on every call; this is one dict lookup per request. No
# more entries than the metrics themselves hold.
_REQUEST_CHILDREN: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
    key = (scope.get("method", "GET"), route_of(scope), status)
    children = _REQUEST_CHILDREN.get(key)
    if children is None:
        method, route, _ = key
        children = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        _REQUEST_CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)


def observe_pool(name: str, stats: dict[str, int]) -> None:
    size = stats.get("pool_size", 0)
    POOL.labels(name, "size").set(size)
    POOL.labels(name, "in_use").set(size - stats.get("pool_available", 0))
    POOL.labels(name, "waiting").set(stats.get("requests_waiting", 0))


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def registry() -> CollectorRegistry:
    """What /metrics shows: every process's samples in multiprocess mode, else this one's."""
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    collected = CollectorRegistry()
    _LiveProcessesCollector(collected, path)
    return collected


class _LiveProcessesCollector(multiprocess.MultiProcessCollector):
    """Every process's samples, the live gauges only of processes still running."""

    def __init__(self, registry: CollectorRegistry, path: str) -> None:
        super().__init__(registry, path)  # type: ignore[no-untyped-call]
        self._folder = path

    def collect(self) -> Any:
        forget_dead_processes(self._folder)
        return super().collect()  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    return generate_latest(registry())


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def forget_dead_processes(path: str) -> None:
    """Drop the live gauges of processes that are gone (a worker that crashed and was
    replaced): their connections no longer exist. Their counters keep counting in the totals.
    Every process of a server shares one machine and folder, so a pid is checked directly."""
    for name in os.listdir(path):
        match = _LIVE_GAUGE_FILE.fullmatch(name)
        if match and not _alive(int(match[1])):
            multiprocess.mark_process_dead(int(match[1]), path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
