"""Fail static: an agent that loses the control plane keeps running its last desired state.

The agent already keeps what runs when a poll fails; this adds what makes it
operable and restart-proof:

- every desired state the server sends is kept on disk (`state/desired.json`,
  written atomically), so an agent restarted while the server is down starts the
  same workloads from it (`load`);
- losing the server and getting it back are said once each in the agent's log:
  "control plane unreachable since 10:02:11 UTC (...); running the last desired
  state, revision 7", then "control plane reachable again after 2 min; desired state
  revision 8";
- metrics: `fleetyard_agent_control_plane_up` (1/0) and
  `fleetyard_agent_desired_state_age_seconds` (since the last successful poll).

Only an unreachable server (no answer, or 5xx) counts as lost; a refused token or an
unknown site is an answer and is reported as the error it is.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from fleetyard.agent.metrics import AgentMetrics
from fleetyard.rollout.availability import span
from fleetyard.services.wire import DesiredState

__all__ = ["FailStatic", "unreachable"]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class FailStatic:
    """The agent's memory of its last desired state and of whether the server answers."""

    def __init__(self, state_dir: Path, metrics: AgentMetrics, *, site: str,
                 say: Callable[[str], None] = _stderr, clock: Callable[[], float] = time.time) -> None:
        self.path = state_dir / "desired.json"
        self.metrics, self.site, self.say, self.clock = metrics, site, say, clock
        self.lost_since: float | None = None
        self.last_ok: float | None = None
        self._saved: str | None = None
        metrics.control_plane_up.set(1.0)

    def load(self) -> DesiredState | None:
        """The desired state kept on disk (None: none, or unreadable)."""
        try:
            text = self.path.read_text(encoding="utf-8")
            desired = DesiredState.model_validate_json(text)
        except (OSError, ValueError, ValidationError):
            return None
        if desired.site != self.site:
            return None
        self._saved = desired.model_dump_json(exclude={"generated_at"})
        return desired

    def polled(self, desired: DesiredState) -> None:
        """A poll succeeded: keep the state on disk and say so if the server was away."""
        now = self.clock()
        if self.lost_since is not None:
            self.say(f"fleetyard agent {self.site}: control plane reachable again after "
                     f"{span(now - self.lost_since)}; desired state revision {desired.revision}")
        self.lost_since, self.last_ok = None, now
        self.metrics.control_plane_up.set(1.0)
        self.tick()
        self._save(desired)

    def failed(self, error: str, running: DesiredState | None) -> None:
        """A poll found no server: say it once, with what the agent keeps running."""
        now = self.clock()
        self.metrics.control_plane_up.set(0.0)
        self.tick()
        if self.lost_since is not None:
            return
        self.lost_since = now
        at = datetime.fromtimestamp(now, UTC).strftime("%H:%M:%S UTC")
        what = (f"running the last desired state, revision {running.revision}" if running is not None
                else "no desired state yet: nothing to run")
        self.say(f"fleetyard agent {self.site}: control plane unreachable since {at} ({error}); {what}")

    def tick(self) -> None:
        """Refresh the age gauge."""
        if self.last_ok is not None:
            self.metrics.desired_state_age.set(max(0.0, self.clock() - self.last_ok))

    def _save(self, desired: DesiredState) -> None:
        key = desired.model_dump_json(exclude={"generated_at"})  # a new poll of the same state is not a change
        if key == self._saved:
            return
        text = desired.model_dump_json()
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # only the agent's user may read it: it holds the values of the site's Secrets (docs/secrets.md)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            self._saved = key
        except OSError as exc:  # a full disk must not stop the agent; the next poll tries again
            self.say(f"fleetyard agent {self.site}: cannot keep the desired state in {self.path}: {exc}")


def unreachable(status: int) -> bool:
    """Whether an API error means the server is away (no answer, or it failed), not a refusal."""
    return status == 0 or status >= 500

