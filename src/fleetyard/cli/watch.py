"""`--watch` for read commands (`status`, `get`): poll, print a new block only on change.

Like `kubectl get -w`: the first answer is printed at once; after that the API is asked
again every `--interval` seconds and a block is printed only when what it shows changed
(compared by a key of the data, so a heartbeat's ticking age alone prints nothing).
Blocks are separated by a line with the time; with `-o json` each block is one JSON line,
for `jq`. Ctrl-C ends it with exit 0. A server that stops answering is retried, the pause
doubling up to `MAX_PAUSE_S`; any other API error ends the watch as the command would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel, TypeAdapter

from fleetyard.cli.common import EXIT_ERROR, Format, console, err
from fleetyard.services.client import ApiError

__all__ = [
    "DEFAULT_INTERVAL_S",
    "MAX_PAUSE_S",
    "IntervalOpt",
    "WatchOpt",
    "json_line",
    "status_key",
    "watch",
    "watch_command",
]

T = TypeVar("T")
DEFAULT_INTERVAL_S = 2.0
MAX_PAUSE_S = 30.0

WatchOpt = Annotated[bool, typer.Option("--watch", "-w", help="Keep polling; print again whenever it changes "
                                        "(Ctrl-C ends it).")]
IntervalOpt = Annotated[float, typer.Option("--interval", min=0.1, max=3600.0,
                                            help="Seconds between polls with --watch.")]


def json_line(value: object) -> str:
    """One compact JSON line of a wire model or a list of them."""
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return TypeAdapter(object).dump_json(value).decode()


def status_key(st: BaseModel) -> str:
    """What `status --watch` compares: the status without each heartbeat's time and telemetry
    (they change with every heartbeat; what they mean - stale, replicas, models - does not)."""
    return st.model_dump_json(exclude={"sites": {"__all__": {"last_heartbeat", "telemetry"}}})


def watch(fetch: Callable[[], T], show: Callable[[T], None], key: Callable[[T], str], *,
          interval: float = DEFAULT_INTERVAL_S, output: Format = Format.table,
          sleep: Callable[[float], None] = time.sleep, rounds: int | None = None) -> None:
    """Print `show(fetch())` now and again each time `key` of a new answer differs, until
    Ctrl-C (or `rounds` polls, for tests). `fetch` errors with status 0 (unreachable) are
    retried with a growing pause and a one-line note on stderr."""
    last: str | None = None
    pause = interval
    polls = 0
    try:
        while rounds is None or polls < rounds:
            polls += 1
            try:
                value = fetch()
            except ApiError as exc:
                if exc.status != 0 or last is None:
                    raise
                err.print(f"watch: {exc.message}; retrying in {min(MAX_PAUSE_S, pause * 2):g} s",
                          highlight=False, soft_wrap=True)
                pause = min(MAX_PAUSE_S, pause * 2)
                sleep(pause)
                continue
            pause = interval
            now = key(value)
            if now != last:
                if last is not None and output is not Format.json:
                    console.print(f"--- {datetime.now(UTC):%H:%M:%S} UTC", style="dim", highlight=False)
                show(value)
                console.file.flush()
                last = now
            sleep(interval)
    except KeyboardInterrupt:
        return


def _captured(run: Callable[[], None], output: Format) -> str:
    """What `run` prints to stdout, as text; a JSON document is made one line."""
    with console.capture() as cap:
        run()
    text = cap.get()
    if output is Format.json:
        try:
            return json.dumps(json.loads(text), separators=(",", ":")) + "\n"
        except ValueError:
            return text
    return text


def watch_command(run: Callable[[], None], *, interval: float = DEFAULT_INTERVAL_S,
                  output: Format = Format.table, sleep: Callable[[float], None] = time.sleep,
                  rounds: int | None = None) -> None:
    """`--watch` for a command whose output has no clock in it (`get`): run it again every
    `interval` seconds and print its output when it differs from the last. `run` is the
    command itself without --watch; its own errors end the watch, except a server that
    stopped answering (exit 1, its line already on stderr) once something was shown."""
    shown = [False]

    def fetch() -> str:
        try:
            return _captured(run, output)
        except typer.Exit as exc:
            if exc.exit_code == EXIT_ERROR and shown[0]:
                raise ApiError(0, "the server did not answer") from None
            raise

    def show(text: str) -> None:
        shown[0] = True
        console.file.write(text)

    watch(fetch, show, lambda text: text, interval=interval, output=output, sleep=sleep, rounds=rounds)
