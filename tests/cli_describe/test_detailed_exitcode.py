"""`plan --detailed-exitcode` (terraform's codes): 0 same placement, 2 changes, 1 any error -
invalid input included - against a plan file (`--against`) or a real server's current plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.cli_describe.helpers import edited_fleet, run
from tests.server.conftest import FLEET, ServerProcess

FAST = ("--no-resilience",)


def test_against_a_plan_file(tmp_path: Path) -> None:
    code, out, err = run(None, "plan", str(FLEET), "-o", "json", *FAST)
    assert code == 0, err
    saved = tmp_path / "plan.json"
    saved.write_text(out)
    code, out, _ = run(None, "plan", str(FLEET), "--detailed-exitcode", "--against", str(saved), *FAST)
    assert code == 0 and "no placement changes" in out
    code, out, _ = run(None, "plan", str(edited_fleet(tmp_path)), "--detailed-exitcode", "--against", str(saved),
                       *FAST)
    assert code == 2 and "chat-eu" in out and "scaled up from 3 to 5 replicas" in out
    # -o json keeps stdout the plan alone
    code, out, _ = run(None, "plan", str(edited_fleet(tmp_path, 4)), "-o", "json", "--detailed-exitcode",
                       "--against", str(saved), *FAST)
    assert code == 2 and "assignments" in json.loads(out)
    # timing fields do not count: the same placement with other solver seconds is no change
    doc = json.loads(saved.read_text())
    doc["solver"]["seconds"] = 1234.5
    retimed = tmp_path / "retimed.json"
    retimed.write_text(json.dumps(doc))
    code, _, _ = run(None, "plan", str(FLEET), "--detailed-exitcode", "--against", str(retimed), *FAST)
    assert code == 0


def test_errors_exit_1_with_the_flag_and_2_without(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: fleetyard/v1\nkind: Site\nmetadata: {name: x}\nspec: {type: small_dc}\n")
    saved = tmp_path / "plan.json"
    saved.write_text("{}")
    code, _, err = run(None, "plan", str(bad))
    assert code == 2
    code, _, err = run(None, "plan", str(bad), "--detailed-exitcode", "--against", str(saved))
    assert code == 1 and "spec.type" in err
    code, _, err = run(None, "plan", str(FLEET), "--detailed-exitcode", "--against", str(saved), *FAST)
    assert code == 1 and "not a plan JSON" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(None, "plan", str(FLEET), "--detailed-exitcode", "--against", str(tmp_path / "none.json"))
    assert code == 1 and "cannot read plan file" in err
    code, _, err = run(None, "plan", str(FLEET), "--detailed-exitcode")
    assert code == 1 and "nothing to compare with" in err


def test_against_the_servers_current_plan(server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = server_factory()
    code, out, _ = run(server, "plan", str(FLEET), "--detailed-exitcode")
    assert code == 2 and "no plan yet" in out  # nothing applied: everything is a change
    code, _, err = run(server, "apply", "-f", str(FLEET))
    assert code == 0, err
    code, out, err = run(server, "plan", str(FLEET), "--detailed-exitcode")
    assert code == 0, out + err
    assert "revision 1 on" in out and "no placement changes" in out
    code, out, _ = run(server, "plan", str(edited_fleet(tmp_path)), "--detailed-exitcode")
    assert code == 2 and "chat-eu" in out
    server.stop()
    code, _, err = run(server, "plan", str(FLEET), "--detailed-exitcode")
    assert code == 1 and "cannot connect" in err


def test_unchanged_files_after_an_incremental_re_plan_are_exit_0(server_factory: Callable[..., ServerProcess],
                                                                 tmp_path: Path) -> None:
    """The server re-plans from what runs (moves must pay for themselves); so does the comparison:
    the files just applied never count as a change, however the server got to its plan."""
    import shutil

    examples = Path(__file__).resolve().parents[2] / "examples" / "fleet"
    edited = tmp_path / "fleet"
    shutil.copytree(examples, edited)
    inference = edited / "workloads-inference.yaml"
    text = inference.read_text(encoding="utf-8")
    assert "    eu-central: 150\n" in text
    inference.write_text(text.replace("    eu-central: 150\n", "    eu-central: 400\n", 1), encoding="utf-8")
    server = server_factory()
    for folder in (examples, edited):
        code, _, err = run(server, "apply", "-f", str(folder))
        assert code == 0, err
    code, out, err = run(server, "plan", str(edited), "--detailed-exitcode", *FAST)
    assert code == 0, out + err
    code, out, _ = run(server, "plan", str(examples), "--detailed-exitcode", *FAST)
    assert code == 2 and "moderation" in out
