"""The `metrics` block of a Workload (issue 12): where its replicas serve Prometheus text.

    spec:
      metrics:
        path: /metrics                              # default
        port: 9100                                  # default: the replica's FLEETYARD_PORT
        requests: http_requests_total               # counter of requests (default)
        errors: http_requests_errors_total          # counter of failed requests (default)
        latency: http_request_duration_seconds      # histogram of request latency, seconds (default)

With the block, the site agent scrapes every replica (`http://127.0.0.1:{port}{path}`)
and reports the workload's requests per second, error ratio and p50/p99 latency as
telemetry samples (docs/telemetry-agent.md). Omitted, nothing is scraped. Every label
set of a name is summed. Without an `errors` counter in the text, failed requests are
the `requests` samples whose `code` or `status` label starts with "5".
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fleetyard.spec.rollout import UrlPath

__all__ = ["MetricName", "WorkloadMetrics"]

MetricName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", max_length=200)]
"""A Prometheus metric name (letters, digits, `_` and `:`, not starting with a digit)."""


class WorkloadMetrics(BaseModel):
    """Where and what to scrape from each replica of a workload."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    path: UrlPath = "/metrics"
    port: int | None = Field(default=None, ge=1, le=65535)  # None: the replica's own FLEETYARD_PORT
    requests: MetricName = "http_requests_total"
    errors: MetricName = "http_requests_errors_total"
    latency: MetricName = "http_request_duration_seconds"
