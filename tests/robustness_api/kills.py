"""A seeded campaign of SIGKILLs of the server mid-apply, and what must hold after each.

Each attempt sends one apply that changes a random share of a pool of regions (a new
`attempt` label) and adds a few new ones, then kills the server with SIGKILL at a
seeded random point, one of three kinds:

* `random`: a random time within ~1.5 applies - before the request arrives, while it
  parses or plans, while it writes, after it answered ("an apply" is a running
  estimate of how long one takes on this machine now, so a loaded machine still sees
  every phase);
* `in-write`: once its write transaction is seen open (PostgreSQL's
  `pg_stat_activity`, SQLite's write lock), plus a random few milliseconds;
* `after-commit`: once that transaction is seen closed again, plus a random few
  milliseconds - committed, the answer perhaps not yet sent.

After a restart:

* every apply that was answered 200 is there, whole (0 acknowledged writes lost);
* the fleet is exactly the one before the apply or exactly the one after it, and the
  plan revision moved by 0 or 1 with it (0 partial applies).

Used by tests/robustness_api/test_kill_apply.py (a few kills per database in CI) and
benchmarks/fault_bench.py (`--kills 50`).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from fleetyard.services.client import ApiError, Client
from fleetyard.services.wire import SpecFile
from tests.server.conftest import ServerProcess, fleet_files
from tests.server.writeprobe import write_probe

POOL = 300  # regions every attempt may change
Labels = dict[str, dict[str, str]]  # region name -> labels


@dataclass
class Kill:
    attempt: int
    point: str  # "random", "in-write" or "after-commit"
    delay_ms: float
    answer: str  # "acknowledged", "refused: ...", "no answer"
    outcome: str  # "applied" or "not applied"


@dataclass
class Campaign:
    backend: str
    seed: int
    kills: list[Kill] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)  # acknowledged, then missing after restart
    partial: list[str] = field(default_factory=list)  # neither the fleet before nor the one after

    def summary(self) -> dict[str, object]:
        return {"backend": self.backend, "seed": self.seed, "kills": len(self.kills),
                "acknowledged": sum(k.answer == "acknowledged" for k in self.kills),
                "applied": sum(k.outcome == "applied" for k in self.kills),
                "by_point": dict(Counter(f"{k.point}/{k.answer.split(':')[0]}/{k.outcome}" for k in self.kills)),
                "lost": len(self.lost), "partial": len(self.partial)}


def _region(name: str, labels: dict[str, str], i: int) -> str:
    pairs = ", ".join(f"{k}: {v!r}" for k, v in sorted(labels.items()))
    return (f"---\napiVersion: fleetyard/v1\nkind: Region\nmetadata: {{name: {name}, labels: {{{pairs}}}}}\n"
            f"spec:\n  location: {{lat: {(i % 170) - 85}, lon: {(i * 7) % 360 - 180}}}\n")


def _pool_file(labels: Labels) -> SpecFile:
    names = [f"pool-{j}" for j in range(POOL)]
    return SpecFile(name="pool.yaml", content="".join(_region(n, labels[n], j) for j, n in enumerate(names)))


def _regions(api: Client) -> Labels:
    return {r.name: dict(r.document["metadata"].get("labels") or {})  # type: ignore[union-attr]
            for r in api.resources("regions")}


def _send(server: ServerProcess, files: list[SpecFile], answers: list[str], took: list[float]) -> None:
    started = time.monotonic()
    try:
        with Client(server.url, server.admin_token, timeout=120) as api:
            api.apply(files)
        took.append(time.monotonic() - started)
        answers.append("acknowledged")
    except ApiError as exc:
        answers.append("no answer" if exc.status == 0 else f"refused: {exc.status} {exc.message[:80]}")


def run(server: ServerProcess, db: str | None, backend: str, kills: int, seed: int,
        log: Callable[[str], None] = print) -> Campaign:
    """`kills` attempts on a started server (fresh database); the server is left running."""
    rng = random.Random(seed)
    campaign = Campaign(backend, seed)
    labels: Labels = {f"pool-{j}": {"attempt": "0"} for j in range(POOL)}
    with server.client() as api:
        started = time.monotonic()
        api.apply([*fleet_files(), _pool_file(labels)])
        duration = time.monotonic() - started  # what one apply of this size takes here
        state, revision = _regions(api), api.plan().revision
    probe = write_probe(server, db, ("INSERT INTO", "UPDATE "))
    for attempt in range(1, kills + 1):
        after = {name: dict(v) for name, v in state.items()}
        for name in rng.sample(sorted(labels), rng.randint(1, POOL)):
            labels[name] = after[name] = {"attempt": str(attempt)}
        fresh = {f"new-{attempt}-{j}": {"attempt": str(attempt)} for j in range(rng.randint(0, 20))}
        after.update(fresh)
        files = [_pool_file(labels)]
        if fresh:
            files.append(SpecFile(name=f"new-{attempt}.yaml",
                                  content="".join(_region(n, v, POOL + j) for j, (n, v) in enumerate(fresh.items()))))
        point = rng.choice(("random", "in-write", "after-commit"))
        delay = rng.uniform(0, 1.5 * duration) if point == "random" else rng.uniform(0, 0.02 if point == "in-write"
                                                                                   else 0.005)
        answers: list[str] = []
        took: list[float] = []
        sender = threading.Thread(target=_send, args=(server, files, answers, took))
        t0 = time.monotonic()
        sender.start()
        if point != "random":
            while sender.is_alive() and not probe() and time.monotonic() - t0 < 60:
                time.sleep(0.001)
        if point == "after-commit":
            while sender.is_alive() and probe() and time.monotonic() - t0 < 60:
                time.sleep(0.0005)
        time.sleep(delay)
        server.kill()
        sender.join(timeout=60)
        answer = answers[0] if answers else "no answer"
        if took:  # the running estimate of one apply: what the last answered one took ...
            duration = took[0]
        elif point == "random" and delay > duration:  # ... or more than an unanswered one ran
            duration = 1.25 * delay
        server.start()
        with server.client() as api:
            now, now_revision = _regions(api), api.plan().revision
        if now == after and now_revision == revision + 1:
            outcome = "applied"
        elif now == state and now_revision == revision:
            outcome = "not applied"
        else:
            outcome = "partial"
            campaign.partial.append(f"attempt {attempt}: revision {revision} -> {now_revision}, "
                                    f"{sum(now.get(n) != v for n, v in after.items())} regions differ from after")
        if answer == "acknowledged" and outcome != "applied":
            campaign.lost.append(attempt)
        campaign.kills.append(Kill(attempt, point, round(delay * 1000, 1), answer, outcome))
        log(f"{backend} kill {attempt}/{kills} ({point}, +{delay * 1000:.0f} ms): {answer}; {outcome}")
        state, revision = now, now_revision
        labels = {name: dict(state[name]) for name in labels}  # what is stored is what the next apply builds on
    return campaign
