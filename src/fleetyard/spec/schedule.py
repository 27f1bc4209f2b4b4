"""The `schedule` block of a Workload (issue 11): deferrable work with a time window.

    spec:
      type: fine-tune
      schedule:
        earliest: 2020-06-01T00:00:00Z   # may start at or after this time (UTC)
        deadline: 2020-06-03T00:00:00Z   # must have finished by this time
        duration_h: 6                    # hours of running, all replicas together
        interruptible: false             # true: may pause and resume (slots need not touch)
        checkpoint_overhead_h: 0.25      # interruptible only: hours added per resume

A workload with a schedule is not always-on: `plan` leaves it out of the placement
(the plan lists it in `deferred`), and `fleetyard schedule` decides where and when it
runs on the capacity the always-on work leaves. Only batch, fine-tune and training
workloads may carry one. Times are ISO 8601 with an offset; YAML's own timestamps
(`2020-06-01T00:00:00Z` unquoted) are read as the same text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from fleetyard.spec.trace import format_time, parse_time

__all__ = ["DEFAULT_CHECKPOINT_OVERHEAD_H", "MAX_DURATION_H", "ScheduleSpec", "UtcTime"]

MAX_DURATION_H = 366 * 24.0
"""Hours a deferrable job runs: a year is longer than any training run scheduled ahead."""

DEFAULT_CHECKPOINT_OVERHEAD_H = 0.25
"""Hours an interruptible job loses each time it resumes after a pause: writing a checkpoint
and loading it again. A quarter hour is typical of a multi-GPU fine-tune that saves to
local NVMe (est.); write your own figure where it differs."""


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("expected a time with a UTC offset such as 2020-06-01T00:00:00Z, "
                             "found a time without one (write Z if it is UTC)")
        return parse_time(value.isoformat())
    if isinstance(value, str):
        t = parse_time(value)
        if isinstance(t, str):
            raise ValueError(t)
        return t
    return value


UtcTime = Annotated[datetime, BeforeValidator(_utc)]


class ScheduleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    earliest: UtcTime
    deadline: UtcTime
    duration_h: float = Field(gt=0, le=MAX_DURATION_H)
    interruptible: bool = False
    checkpoint_overhead_h: float = Field(default=DEFAULT_CHECKPOINT_OVERHEAD_H, ge=0, le=24.0)

    @model_validator(mode="after")
    def _window(self) -> ScheduleSpec:
        if self.deadline <= self.earliest:
            raise ValueError(f"deadline {format_time(self.deadline)} must be after earliest "
                             f"{format_time(self.earliest)}")
        window_h = (self.deadline - self.earliest).total_seconds() / 3600.0
        if window_h + 1e-9 < self.duration_h:
            raise ValueError(f"the window from {format_time(self.earliest)} to {format_time(self.deadline)} "
                             f"is {window_h:g} h, shorter than duration_h {self.duration_h:g}: the job "
                             "cannot finish in it")
        return self

    @property
    def window_h(self) -> float:
        return (self.deadline - self.earliest).total_seconds() / 3600.0
