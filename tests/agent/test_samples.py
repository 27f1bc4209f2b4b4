"""Telemetry samples from the real agent loop (issue 12): present, well-formed, estimates marked,
and resent after a lost link - in order, none twice, none missing - within the buffer's bound.

The agent runs in-process against `Receiver`, a real loopback HTTP control plane that records
every report body; this machine has no nvidia-smi, and the agent is told to use none anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetyard.agent.config import AgentConfig
from fleetyard.agent.controlplane import HttpControlPlane
from fleetyard.agent.loop import Agent
from fleetyard.agent.samples import SyncLag, build_sample, estimate_gpus, fetched_sources
from fleetyard.agent.telemetry import GpuReading, GpuTelemetry
from fleetyard.services.wire import ChunkSource, DesiredModel, DesiredState, DesiredWorkload, SiteReport
from fleetyard.services.wire_telemetry import SERIES, Sample, split_key
from tests.agent.rollout_site import wait_until
from tests.agent.telemetry_receiver import Receiver
from tests.replication.models import write_keys
from tests.server.conftest import ServerProcess, fleet_files, server_factory

__all__ = ["server_factory"]

SITE = "par-1"


def desired(*, models: list[DesiredModel] | None = None, revision: int = 1) -> DesiredState:
    chat = DesiredWorkload(name="chat", model="m:1", replicas=2, gpu_sku="H100-SXM", gpus_per_replica=4,
                           type="inference")
    train = DesiredWorkload(name="train", model="t:1", replicas=1, gpu_sku="custom-x", gpus_per_replica=2,
                            type="training", tdp_w=500.0)
    return DesiredState(site=SITE, revision=revision, generated_at=datetime.now(UTC), models=models or [],
                        workloads=[chat, train])


class Running:
    """An in-process agent running its loop in a thread, against a receiver."""

    def __init__(self, root: Path, receiver: Receiver, **settings: object) -> None:
        _, pub = write_keys(root / "keys")
        config = AgentConfig(site=SITE, server=receiver.url, token="fy_agent_test", data_dir=root / "agent",
                             trust_keys=(pub,), heartbeat=0.2, relay_wait=0.0, **settings)  # type: ignore[arg-type]
        self.agent = Agent(config, HttpControlPlane(receiver.url, "fy_agent_test", timeout=5.0))
        self.agent.telemetry = GpuTelemetry(binary=None)  # no GPU readings: estimates
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.agent.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> Agent:
        self.agent.start()
        self.thread.start()
        return self.agent

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        self.agent.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(desired())
    try:
        yield r
    finally:
        r.close()


def well_formed(s: Sample) -> None:
    for key in [*s.values, *s.estimated]:
        name, label = split_key(key)
        assert name in SERIES, key
        assert bool(label) == bool(SERIES[name].label), key
    assert set(s.estimated) <= set(s.values)


def test_the_loop_sends_well_formed_samples_with_the_estimates_marked(tmp_path: Path, receiver: Receiver) -> None:
    with Running(tmp_path, receiver):
        wait_until(lambda: sum(len(r.samples) for r in receiver.accepted) >= 3, "three samples accepted")
    samples = [s for r in receiver.accepted for s in r.samples]
    for s in samples:
        well_formed(s)
    v = samples[-1].values
    # chat: 2 x 4 H100-SXM (700 W, catalog) at 0.5; train: 1 x 2 custom GPUs (500 W, the site's) at 0.85
    assert v["gpus"] == 10
    assert v["gpu_power_w"] == pytest.approx(8 * 700 * 0.5 + 2 * 500 * 0.85)
    assert v["gpu_utilization"] == pytest.approx(100 * (8 * 0.5 + 2 * 0.85) / 10)
    assert v["it_kw"] == pytest.approx(v["gpu_power_w"] * 1.8 / 1000, rel=1e-4)
    assert set(samples[-1].estimated) == {"gpu_power_w", "gpu_utilization", "gpus", "it_kw"}
    assert "gpu_temperature_c" not in v and "gpu_memory_used_bytes" not in v  # no guess for those
    assert (v["replicas_running/chat"], v["replicas_healthy/chat"], v["replicas_running/train"]) == (0, 0, 0)
    assert (v["fetched_bytes/origin"], v["fetched_bytes/peer"], v["sync_lag_s"]) == (0, 0, 0)
    assert len({s.t for s in samples}) == len(samples)


@pytest.mark.parametrize("how", ["503", "refused"])
def test_a_receiver_down_for_heartbeats_gets_every_sample_later_in_order_once(tmp_path: Path,
                                                                              receiver: Receiver, how: str) -> None:
    down_for = 6
    with Running(tmp_path, receiver) as agent:
        wait_until(lambda: receiver.counts()[0] >= 2, "two reports accepted")
        failures = agent.metrics.heartbeat_failures._value.get
        with receiver.lock:
            accepted_before = len(receiver.accepted)
            if how == "503":
                receiver.down = True
            else:
                receiver.cut()
        wait_until(lambda: failures() >= down_for, f"{down_for} reports not accepted")
        backlog = len(agent.samples)
        assert backlog >= down_for - 1  # kept while the link is down
        with receiver.lock:
            if how == "503":
                receiver.down = False
            else:
                receiver.restore()
        wait_until(lambda: receiver.counts()[0] >= accepted_before + 3, "reports accepted again")
        wait_until(lambda: len(agent.samples) <= 1, "the backlog drained")
    got = [s.t for r in receiver.accepted for s in r.samples]
    assert got == sorted(set(got)), "in order, none twice"
    assert len(got) == agent.samples.added and agent.samples.dropped == 0, "none missing"
    if how == "503":  # what the refused reports carried went out again
        assert {s.t for r in receiver.refused for s in r.samples} <= set(got)
    first_back = receiver.accepted[accepted_before]
    assert len(first_back.samples) >= backlog  # the backlog went out with the first report back


def test_the_buffer_bound_holds_in_the_loop_and_drops_are_counted(tmp_path: Path, receiver: Receiver) -> None:
    with Running(tmp_path, receiver, sample_buffer=3) as agent:
        receiver.down = True
        wait_until(lambda: receiver.counts()[1] >= 8, "8 reports refused")
        assert len(agent.samples) <= 3
        assert all(len(r.samples) <= 3 for r in receiver.refused)
        receiver.down = False
        wait_until(lambda: receiver.counts()[0] >= 2, "reports accepted again")
        text = agent.metrics.render().decode()
    dropped = [line for line in text.splitlines() if line.startswith("fleetyard_agent_samples_dropped_total ")]
    assert dropped and float(dropped[0].split()[1]) >= 5
    got = [s.t for r in receiver.accepted for s in r.samples]
    assert got == sorted(set(got))


def test_sync_lag_counts_from_the_oldest_revision_not_applied(tmp_path: Path) -> None:
    source = ChunkSource(kind="center", url="http://127.0.0.1:9")
    m1 = DesiredModel(ref="m:1", name="m", version="1", requested="m:1", sources=[source])
    m2 = DesiredModel(ref="m:2", name="m", version="2", requested="m:2", sources=[source])
    lag = SyncLag()

    def report(**states: str) -> SiteReport:
        return SiteReport.model_validate({"site": SITE, "agent_version": "t", "revision": 1,
                                          "models": [{"ref": r.replace("_", ":"), "state": s}
                                                     for r, s in states.items()]})

    assert lag.update(None, report(), 10.0) == 0.0
    assert lag.update(desired(models=[m1]), report(m_1="syncing"), 100.0) == 0.0
    assert lag.update(desired(models=[m1]), report(m_1="syncing"), 130.0) == 30.0
    assert lag.update(desired(models=[m2], revision=2), report(m_2="pending"), 140.0) == 40.0  # still behind
    assert lag.update(desired(models=[m2], revision=2), report(m_2="active"), 150.0) == 0.0
    assert lag.update(desired(models=[m2], revision=2), report(m_2="active"), 160.0) == 0.0


def test_measured_gpu_readings_are_not_marked_estimated() -> None:
    reading = GpuReading(power_w=612.0, utilization=71.5, temperature_c=66.0, memory_used_bytes=2.0**34, gpus=2)
    r = SiteReport(site=SITE, agent_version="t", revision=1)
    s = build_sample(datetime.now(UTC), r, desired(), reading, requests={}, fetched={"center": 10, "lyo-1": 5,
                                                                                        "mrs-1": 7},
                     sync_lag_s=0.0)
    well_formed(s)
    assert s.estimated == ["it_kw"]
    assert s.values["gpu_power_w"] == 612.0 and s.values["gpus"] == 2 and s.values["gpu_temperature_c"] == 66.0
    assert (s.values["fetched_bytes/origin"], s.values["fetched_bytes/peer"]) == (10, 12)
    assert fetched_sources({}) == {"origin": 0.0, "peer": 0.0}
    assert estimate_gpus(None).gpus == 0


def test_the_real_server_accepts_reports_with_samples(tmp_path: Path,
                                                      server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory()
    with server.client() as api:
        api.apply(fleet_files())
        token = api.create_token("agent", "fra-1").token
    _, pub = write_keys(tmp_path / "keys")
    config = AgentConfig(site="fra-1", server=server.url, token=token, data_dir=tmp_path / "agent",
                         trust_keys=(pub,), heartbeat=0.2, relay_wait=0.0)
    agent = Agent(config, HttpControlPlane(server.url, token, timeout=10.0))
    agent.telemetry = GpuTelemetry(binary=None)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    agent.start()
    thread.start()
    try:
        wait_until(lambda: agent.metrics.last_heartbeat._value.get() > 0 and len(agent.samples) == 0
                   and agent.samples.dropped == 0, "a heartbeat with samples accepted (204)", timeout=60)
        assert agent.metrics.heartbeat_failures._value.get() == 0
    finally:
        stop.set()
        thread.join(30)
        agent.shutdown()
    with server.client() as api:
        site = next(s for s in api.status().sites if s.site == "fra-1")
    assert site.last_heartbeat is not None
