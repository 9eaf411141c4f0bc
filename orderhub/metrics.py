"""Prometheus metrics shared by API and worker processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``orderhub run`` sets it), every process writes its samples there and the
API's ``/metrics`` aggregates them, so worker job latency shows up next to request counts.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "INGEST_RESULTS",
    "JOB_LATENCY",
    "NOTIFICATIONS",
    "ORDER_ACK_TO_READY",
    "QUEUE_DEPTH",
    "REQUESTS",
    "REQUEST_LATENCY",
    "render",
]

REQUESTS = Counter("orderhub_http_requests_total", "HTTP requests", ["method", "route", "status"])
REQUEST_LATENCY = Histogram(
    "orderhub_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INGEST_RESULTS = Counter("orderhub_ingest_orders_total", "Orders seen by the ingest API", ["channel", "result"])
# queue: "pipeline" or "background" (orderhub.queue.QueueRole)
QUEUE_DEPTH = Gauge(
    "orderhub_queue_depth", "SAQ jobs by queue and state", ["queue", "state"], multiprocess_mode="livemax"
)
JOB_LATENCY = Histogram(
    "orderhub_job_seconds",
    "Worker job run time",
    ["job", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ORDER_ACK_TO_READY = Histogram(
    "orderhub_order_ack_to_ready_seconds",
    "From ingest acknowledgement to status ready",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)


NOTIFICATIONS = Gauge(
    "orderhub_notifications", "Notification outbox rows by channel and status", ["channel", "status"],
    multiprocess_mode="livemax",
)


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
