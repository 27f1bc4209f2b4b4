"""Tables for `fleetyard rollout status`: one line per workload, or one rollout with its waves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from fleetyard.cli.output import table
from fleetyard.cli.server_render import ago
from fleetyard.services.wire import RolloutOut

__all__ = ["STATE_STYLE", "rollout_view", "rollouts_table"]

STATE_STYLE = {"progressing": "yellow", "baking": "cyan", "paused": "magenta", "succeeded": "green",
               "rolled_back": "red", "aborted": "red", "failed": "red", "pending": "dim"}


def _state(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def _wave_no(r: RolloutOut) -> str:
    done = sum(1 for w in r.waves if w.state == "succeeded")
    return f"{done}/{len(r.waves)}"


def rollouts_table(rows: Sequence[RolloutOut]) -> Table:
    t = table("Workload", "From", "To", "State", "Waves done", "Updated", "Reason")
    now = datetime.now(UTC)
    for r in rows:
        t.add_row(r.workload, r.from_ or "-", r.to, _state(r.state), _wave_no(r), ago(r.updated_at, now),
                  r.reason or "")
    return t


def rollout_view(r: RolloutOut) -> Group:
    head = Text.assemble(("Rollout ", "bold"), (r.workload, "bold cyan"), f" #{r.id}: {r.change} ",
                         _state(r.state), f"  ({r.cause} by {r.created_by}"
                         + (", no health gates" if not r.gated else f", bake {r.bake_s:g} s") + ")")
    parts: list[Text | Table] = [head]
    if r.reason:
        parts.append(Text(f"Reason: {r.reason}", style=STATE_STYLE.get(r.state, "")))
    t = table("Wave", "Sites", "State", "Started", "Why these sites / reason")
    now = datetime.now(UTC)
    for w in r.waves:
        detail = Text(w.why, style="dim")
        if w.reason:
            detail = Text.assemble((w.why, "dim"), "\n", (w.reason, STATE_STYLE.get(w.state, "")))
        t.add_row(str(w.index), ", ".join(w.sites) or "-", _state(w.state),
                  ago(w.started_at, now) if w.started_at else "-", detail)
    parts.append(t)
    return Group(*parts)
