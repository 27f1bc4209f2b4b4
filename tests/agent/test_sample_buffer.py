"""The sample buffer (issue 12): bounded, oldest first, samples leave only when acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetyard.agent.metrics import AgentMetrics
from fleetyard.agent.sample_buffer import SampleBuffer, default_capacity
from fleetyard.services.wire_telemetry import MAX_SAMPLES_PER_REPORT, Sample

T0 = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def at(i: int) -> Sample:
    return Sample(t=T0 + timedelta(seconds=5 * i), values={"gpus": float(i)})


def metric(m: AgentMetrics, name: str) -> float:
    line = next(x for x in m.render().decode().splitlines() if x.startswith(name + " "))
    return float(line.split()[1])


def test_a_backlog_drains_in_batches_oldest_first_each_sample_once() -> None:
    buf = SampleBuffer(1000)
    for i in range(300):
        buf.add(at(i))
    sent: list[float] = []
    while len(buf):
        batch = buf.batch()
        assert len(batch) <= MAX_SAMPLES_PER_REPORT
        assert buf.batch() == batch  # not taken until acknowledged
        buf.acknowledge(batch)
        sent += [s.values["gpus"] for s in batch]
    assert sent == [float(i) for i in range(300)]
    buf.acknowledge([])  # nothing sent: nothing changes


def test_the_bound_drops_the_oldest_and_counts_them_on_metrics() -> None:
    m = AgentMetrics()
    buf = SampleBuffer(10, m)
    for i in range(25):
        buf.add(at(i))
    assert len(buf) == 10 and buf.dropped == 15
    assert [s.values["gpus"] for s in buf.batch()] == [float(i) for i in range(15, 25)]
    assert metric(m, "fleetyard_agent_samples_dropped_total") == 15
    assert metric(m, "fleetyard_agent_samples_buffered") == 10


def test_an_acknowledged_batch_partly_dropped_meanwhile_removes_only_what_was_sent() -> None:
    buf = SampleBuffer(5)
    for i in range(5):
        buf.add(at(i))
    batch = buf.batch()  # 0..4 on their way
    for i in range(5, 8):
        buf.add(at(i))  # 0..2 dropped meanwhile
    buf.acknowledge(batch)
    assert [s.values["gpus"] for s in buf.batch()] == [5.0, 6.0, 7.0]


def test_times_are_made_strictly_increasing() -> None:
    buf = SampleBuffer(10)
    a = buf.add(at(3))
    b = buf.add(at(3))
    c = buf.add(at(1))
    assert a.t < b.t < c.t


def test_default_capacity_is_a_day_of_heartbeats() -> None:
    assert default_capacity(5.0) == 17_280
    assert default_capacity(3600.0) == MAX_SAMPLES_PER_REPORT  # never less than one report
    with pytest.raises(ValueError, match="at least one sample"):
        SampleBuffer(0)
