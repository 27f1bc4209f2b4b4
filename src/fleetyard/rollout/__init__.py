"""Rollouts: the state machine of waves and gates (machine.py), which sites form each wave
(waves.py) and how one site's health is judged (gates.py). Pure logic: the services layer
feeds it the plan, the agents' reports and a clock, and stores its documents."""

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
