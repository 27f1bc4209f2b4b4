"""`fleetyard flags eval` as a real process on the example fleet: the evaluator's answer, the
rule and bucket behind it, json output, and one-line mistakes with exit 2 (errors exit 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fleetyard.rollout.flags import bucket, evaluate, site_facts
from fleetyard.spec import load_fleet

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetyard", "flags", "eval", *args], capture_output=True,
                          text=True, timeout=120, check=False, env={"COLUMNS": "300", "PATH": ""})


def test_the_answer_is_the_evaluators_with_its_reason() -> None:
    fleet = load_fleet([EXAMPLE]).fleet
    r = run("new-tokenizer", str(EXAMPLE), "--site", "fra-1", "--key", "user-12")
    assert r.returncode == 0, r.stderr
    assert bucket("new-tokenizer", "user-12") == 861
    assert r.stdout.strip() == ("new-tokenizer at fra-1 (DE, region eu-central) for user-12: true "
                                "(variant true, SPLIT: rule 0, bucket 861 < 2000)")
    for site, ctx in (("muc-edge", {"plan": "enterprise"}), ("dub-1", {"plan": "enterprise"}), ("fra-1", {})):
        r = run("chat-max-tokens", str(EXAMPLE), "--site", site, *(f"--context={k}={v}" for k, v in ctx.items()),
                "--format", "json")
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        e = evaluate(fleet.flags["chat-max-tokens"], site_facts(fleet, site), ctx)
        assert (got["value"], got["variant"], got["reason"], got["errorCode"]) == (e.value, e.variant, e.reason, None)
    assert [json.loads(run("chat-max-tokens", str(EXAMPLE), "--site", s, "-o", "json").stdout)["value"]
            for s in ("muc-edge", "fra-1")] == [512, 2048]


def test_mistakes_are_one_line_and_exit_2_and_evaluation_errors_exit_3() -> None:
    for args, words in (
        (["chat-max-token", str(EXAMPLE), "--site", "fra-1"], "unknown flag 'chat-max-token' (did you mean"),
        (["chat-max-tokens", str(EXAMPLE), "--site", "fra-9"], "unknown site 'fra-9'"),
        (["chat-max-tokens", str(EXAMPLE), "--site", "fra-1", "--context", "plan"], "expected NAME=VALUE"),
    ):
        r = run(*args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run("new-tokenizer", str(EXAMPLE), "--site", "fra-1")
    assert r.returncode == 3 and "ERROR TARGETING_KEY_MISSING" in r.stdout, r
