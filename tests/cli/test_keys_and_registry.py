"""`fleetyard keys create` and the registry commands through contexts (issue 13): a key pair made
by the CLI signs a push to a real server; `registry ls` and `registry pull --server` read the
server's registry; a context's server and trusted key are used when no flag is given."""

from __future__ import annotations

import stat
from pathlib import Path

from fleetyard.agent.localfleet import write_model
from tests.cli.test_contexts import run
from tests.server.conftest import ServerProcess


def test_keys_create_refuses_to_overwrite(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    code, out, _ = run(cfg, "keys", "create", "--out", str(tmp_path / "k"), "--name", "release")
    assert code == 0 and "--trust-key" in out and "--key" in out
    assert stat.S_IMODE((tmp_path / "k" / "release.pem").stat().st_mode) == 0o600
    assert b"BEGIN PUBLIC KEY" in (tmp_path / "k" / "release.pub").read_bytes()
    before = (tmp_path / "k" / "release.pem").read_bytes()
    code, _, err = run(cfg, "keys", "create", "--out", str(tmp_path / "k"), "--name", "release")
    assert code == 2 and "already exists" in err
    assert (tmp_path / "k" / "release.pem").read_bytes() == before
    assert run(cfg, "keys", "create", "--out", str(tmp_path / "k"), "--name", "release", "--force")[0] == 0
    assert (tmp_path / "k" / "release.pem").read_bytes() != before
    code, _, err = run(cfg, "keys", "create", "--name", "../x")
    assert code == 2 and "--name" in err


def test_push_ls_pull_against_the_server_and_through_a_context(server: ServerProcess, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    run(cfg, "keys", "create", "--out", str(tmp_path / "k"))
    other = tmp_path / "other"
    run(cfg, "keys", "create", "--out", str(other))
    model = write_model(tmp_path / "m", tensors=3)
    auth = ("--server", server.url, "--token", server.admin_token)
    key = str(tmp_path / "k" / "signing.pem")
    code, out, err = run(cfg, "registry", "push", str(model), "ctx-model:1", "--key", key, "-q", *auth)
    assert code == 0, err
    code, out, _ = run(cfg, "registry", "ls", "ctx-model", "-o", "json", *auth)
    assert code == 0 and '"ref": "ctx-model:1"' in out and '"signed": true' in out
    code, out, err = run(cfg, "registry", "pull", "ctx-model:1", str(tmp_path / "out1"), "-q",
                         "--public-key", str(tmp_path / "k" / "signing.pub"), *auth)
    assert code == 0 and "signature verified" in out, err
    code, _, err = run(cfg, "registry", "pull", "ctx-model:1", str(tmp_path / "out2"), "-q",
                       "--public-key", str(other / "signing.pub"), *auth)
    assert code == 3, err  # signed, but not by that key
    token = tmp_path / "admin.token"
    token.write_text(server.admin_token)
    run(cfg, "config", "set-context", "fleet", "--server", server.url, "--token-file", str(token),
        "--trusted-key", str(tmp_path / "k" / "signing.pub"))
    code, out, err = run(cfg, "registry", "pull", "ctx-model:1", str(tmp_path / "out3"), "-q")
    assert code == 0 and "signature verified" in out, err
    names = [sorted(p.name for p in (tmp_path / d).iterdir()) for d in ("out1", "out3")]
    assert names[0] == names[1]
    run(cfg, "config", "set-context", "fleet", "--trusted-key", str(other / "signing.pub"))
    code, _, err = run(cfg, "registry", "pull", "ctx-model:1", str(tmp_path / "out4"), "-q")
    assert code == 3, err  # the context's trusted key refuses it
    code, _, err = run(cfg, "registry", "ls", "--server", server.url, "--token", "fy_bad")
    assert code == 2 and "token refused (401)" in err, err
