"""`--watch` (cli/watch.py): the loop on its own, then `get -w` and `status -w` as real
processes against a real server - change something, see the second block, Ctrl-C, exit 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetyard.cli.watch import watch
from fleetyard.services.client import ApiError, read_spec_files
from fleetyard.services.wire import Replicas, SiteReport, WorkloadStatus
from tests.cli_describe.helpers import WAIT_S, Lines, edited_fleet
from tests.server.conftest import FLEET, ServerProcess


def _loop(answers: list[object], rounds: int) -> tuple[list[object], list[float]]:
    shown: list[object] = []
    slept: list[float] = []
    it = iter(answers)

    def fetch() -> object:
        value = next(it)
        if isinstance(value, Exception):
            raise value
        return value

    watch(fetch, shown.append, str, interval=0.5, sleep=slept.append, rounds=rounds)
    return shown, slept


def test_a_block_is_printed_only_when_the_key_changes() -> None:
    shown, slept = _loop(["a", "a", "b", "b", "a"], rounds=5)
    assert shown == ["a", "b", "a"] and slept == [0.5] * 5


def test_an_unreachable_server_is_retried_slower_and_other_errors_end_it() -> None:
    down = ApiError(0, "cannot connect")
    with CliRunner().isolation():  # the retry note goes to stderr
        shown, slept = _loop(["a", down, down, "b"], rounds=4)
    assert shown == ["a", "b"] and slept == [0.5, 1.0, 2.0, 0.5]
    with pytest.raises(ApiError):
        _loop(["a", ApiError(401, "refused")], rounds=2)
    with pytest.raises(ApiError):  # unreachable before anything was shown: the command's own error
        _loop([down], rounds=1)


def test_ctrl_c_ends_the_loop_quietly() -> None:
    def fetch() -> str:
        raise KeyboardInterrupt

    watch(fetch, print, str, rounds=None)  # returns instead of raising


def _watch(server: ServerProcess, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "fleetyard", *args, "--server", server.url, "--token",
                             server.admin_token, "--watch", "--interval", "0.2", "-o", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a suite started in the background inherits SIGINT ignored; Ctrl-C is what is tested
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return err


def test_get_watch_prints_again_after_an_apply(server_factory: Callable[..., ServerProcess],
                                               tmp_path: Path) -> None:
    server = server_factory()
    with server.client() as api:
        api.apply(read_spec_files([FLEET])[0])
        proc = _watch(server, "get", "workloads")
        try:
            lines = Lines(proc)
            first = {r["name"]: r for r in json.loads(lines.next())}
            assert first["chat-eu"]["document"]["spec"]["replicas"]["min"] == 3
            files, problems = read_spec_files([edited_fleet(tmp_path)])
            assert problems == []
            api.apply(files)
            second = {r["name"]: r for r in json.loads(lines.next())}
            assert second["chat-eu"]["document"]["spec"]["replicas"]["min"] == 5
        finally:
            _interrupt(proc)


def test_status_watch_prints_again_when_a_site_reports(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory()
    with server.client() as api:
        api.apply(read_spec_files([FLEET])[0])
        proc = _watch(server, "status")
        try:
            lines = Lines(proc)
            first = {s["site"]: s for s in json.loads(lines.next())["sites"]}
            assert first["par-1"]["last_heartbeat"] is None
            api.report(SiteReport(site="par-1", agent_version="test", revision=1, workloads=[
                WorkloadStatus(name="chat-eu", model="tiny-llm:1", replicas=Replicas(desired=1, running=1,
                                                                                     healthy=1))]))
            second = {s["site"]: s for s in json.loads(lines.next())["sites"]}
            assert second["par-1"]["last_heartbeat"] is not None
            assert second["par-1"]["workloads"][0]["replicas"]["healthy"] == 1
        finally:
            _interrupt(proc)


def test_get_watch_bad_input_is_one_line_and_exit_2(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory()
    r = subprocess.run([sys.executable, "-m", "fleetyard", "get", "gadgets", "--watch", "--server", server.url,
                        "--token", server.admin_token], capture_output=True, text=True, timeout=WAIT_S, check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "expected one of" in r.stderr
