"""Pluggable runtimes for the site agent: `process` (default) and `kubernetes`."""

from __future__ import annotations

from fleetyard.agent.runtime.base import Endpoint, ReplicaCounts, Runtime, WorkloadRun
from fleetyard.agent.runtime.kubernetes import KubernetesRuntime, render_deployment, render_service
from fleetyard.agent.runtime.process import ProcessRuntime

__all__ = ["Endpoint", "KubernetesRuntime", "ProcessRuntime", "ReplicaCounts", "Runtime", "WorkloadRun",
           "render_deployment", "render_service"]
