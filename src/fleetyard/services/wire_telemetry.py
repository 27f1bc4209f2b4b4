"""Telemetry samples on the wire (issue 12): what an agent measures, batched into its reports.

A `Sample` is one moment of one site: `values` maps a series key to a number. A key is a
series name from `SERIES`, alone for a site-wide series (`gpu_power_w`) or followed by
`/` and the label value for a labelled one (`replicas_running/chat-eu`,
`fetched_bytes/peer`). Site, workload and source names never contain `/`, so the key is
unambiguous. `estimated` lists the keys whose value is an estimate from the plan (no
`nvidia-smi`), so the history and the dashboard can mark them.

Samples ride on `SiteReport.samples`, at most `MAX_SAMPLES_PER_REPORT` each time; the
agent keeps the rest in a bounded buffer and sends it with the next reports (oldest
first), so a link lost for an hour arrives later, in order. The server keys raw samples
by (site, time): a batch sent twice is stored once.

This module is the contract between agent/ and services/telemetry; both import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from fleetyard.services.storable import NUL_FREE
from fleetyard.services.wire_base import _In

__all__ = ["MAX_KEYS_PER_SAMPLE", "MAX_SAMPLES_PER_REPORT", "SERIES", "Sample", "SeriesInfo", "SeriesKey",
           "series_key", "split_key"]

MAX_SAMPLES_PER_REPORT = 120  # ten minutes of 5 s samples; a backlog drains over several reports
MAX_KEYS_PER_SAMPLE = 512

SeriesKey = Annotated[str, StringConstraints(pattern=NUL_FREE, min_length=1, max_length=160)]


@dataclass(frozen=True)
class SeriesInfo:
    unit: str
    label: Literal["", "workload", "source"]  # "" = one value per site
    kind: Literal["gauge", "counter"]  # rollups average a gauge and keep a counter's last value
    help: str


SERIES: dict[str, SeriesInfo] = {
    "gpu_power_w": SeriesInfo("W", "", "gauge", "GPU board power summed over the site's GPUs"),
    "gpu_utilization": SeriesInfo("%", "", "gauge", "Mean GPU utilization, 0-100"),
    "gpu_temperature_c": SeriesInfo("C", "", "gauge", "Hottest GPU temperature"),
    "gpu_memory_used_bytes": SeriesInfo("bytes", "", "gauge", "GPU memory used, summed over GPUs"),
    "gpus": SeriesInfo("", "", "gauge", "GPUs seen (nvidia-smi) or planned"),
    "it_kw": SeriesInfo("kW", "", "gauge", "IT power of the site"),
    "sync_lag_s": SeriesInfo("s", "", "gauge", "Seconds the site's models are behind the desired revision"),
    "replicas_running": SeriesInfo("", "workload", "gauge", "Replicas running"),
    "replicas_healthy": SeriesInfo("", "workload", "gauge", "Replicas passing their health check"),
    "requests_per_s": SeriesInfo("1/s", "workload", "gauge", "Requests per second (the workload's own metrics)"),
    "error_ratio": SeriesInfo("", "workload", "gauge", "Failed requests / requests, 0-1"),
    "latency_p50_s": SeriesInfo("s", "workload", "gauge", "Median request latency"),
    "latency_p99_s": SeriesInfo("s", "workload", "gauge", "99th percentile request latency"),
    "fetched_bytes": SeriesInfo("bytes", "source", "counter", "Bytes fetched, by source (origin, peer, relay)"),
}


def series_key(name: str, label: str = "") -> str:
    return f"{name}/{label}" if label else name


def split_key(key: str) -> tuple[str, str]:
    """`replicas_running/chat-eu` -> ("replicas_running", "chat-eu"); `it_kw` -> ("it_kw", "")."""
    name, _, label = key.partition("/")
    return name, label


class Sample(_In):
    t: datetime  # UTC, when measured
    values: dict[SeriesKey, float] = Field(default_factory=dict, max_length=MAX_KEYS_PER_SAMPLE)
    estimated: list[SeriesKey] = Field(default_factory=list, max_length=MAX_KEYS_PER_SAMPLE)
