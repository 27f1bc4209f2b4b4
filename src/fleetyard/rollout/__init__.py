"""Rollouts, failover and feature flags as pure logic, driven by reports and a clock (no I/O).

The rollout state machine of waves and gates (machine.py), which sites form each wave
(waves.py) and how one site's health is judged (gates.py); site availability for
failover (availability.py); flag evaluation (flags.py). The services layer feeds them
the plan, the agents' reports and a clock, and stores their documents."""

from __future__ import annotations

from fleetyard.rollout.gates import Observation, Verdict, judge
from fleetyard.rollout.machine import (
    ACTIVE,
    TERMINAL,
    Event,
    Policy,
    Refused,
    Rollout,
    SiteView,
    Version,
    WaveRun,
    abort,
    pause,
    promote,
    resume,
    site_version,
    start,
    step,
)
from fleetyard.rollout.waves import Candidate, WaveChoice, choose_waves

__all__ = ["ACTIVE", "TERMINAL", "Candidate", "Event", "Observation", "Policy", "Refused", "Rollout", "SiteView",
           "Verdict", "Version", "WaveChoice", "WaveRun", "abort", "choose_waves", "judge", "pause", "promote",
           "resume", "site_version", "start", "step"]
