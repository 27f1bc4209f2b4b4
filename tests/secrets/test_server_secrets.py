"""Secrets on a real server process (SQLite and PostgreSQL): sealed in every table, never in an
answer but the desired state of the site's own agent, refused when a reference is missing, and a
tampered ciphertext is a clear problem, never garbage."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from fleetyard.services.client import ApiError
from tests.secrets.fleet import PASSWORD, TOKEN, files, fleet_docs, secret, secret_files
from tests.server.conftest import BACKENDS, ServerProcess

pytestmark = pytest.mark.timeout(300)


def db_url(server: ServerProcess) -> str:
    return server.db or f"sqlite:///{server.data / 'fleetyard.db'}"


def database_text(server: ServerProcess) -> str:
    """Every row of every table, as text."""
    engine = sa.create_engine(db_url(server))
    out = []
    try:
        with engine.connect() as conn:
            for table in sa.inspect(engine).get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    out.append(f"{table}: {tuple(row)!r}")
    finally:
        engine.dispose()
    return "\n".join(out)


def stored_secret(server: ServerProcess, name: str) -> dict[str, object]:
    engine = sa.create_engine(db_url(server))
    try:
        with engine.connect() as conn:
            doc = conn.execute(sa.text("SELECT document FROM resources WHERE kind = 'Secret' AND name = :n"),
                               {"n": name}).scalar_one()
    finally:
        engine.dispose()
    return doc if isinstance(doc, dict) else json.loads(doc)


def set_stored_secret(server: ServerProcess, name: str, doc: dict[str, object]) -> None:
    engine = sa.create_engine(db_url(server))
    try:
        with engine.begin() as conn:
            table = sa.Table("resources", sa.MetaData(), autoload_with=conn)
            conn.execute(table.update().where(table.c.kind == "Secret", table.c.name == name).values(document=doc))
    finally:
        engine.dispose()


def desired(server: ServerProcess, site: str, token: str) -> dict[str, object]:
    r = httpx.get(f"{server.url}/api/v1/sites/{site}/desired", headers={"Authorization": f"Bearer {token}"},
                  timeout=60)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def workload(state: dict[str, object], name: str) -> dict[str, object]:
    found = [w for w in state["workloads"] if w["name"] == name]  # type: ignore[attr-defined]
    assert found, state
    return found[0]  # type: ignore[no-any-return]


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, server_factory: Callable[..., ServerProcess],
           new_database: Callable[[str], str | None]) -> ServerProcess:
    return server_factory(new_database(request.param))


def test_values_are_sealed_everywhere_and_only_the_running_sites_agent_gets_them(server: ServerProcess,
                                                                                tmp_path: Path) -> None:
    key_file = server.data / "secrets.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    with server.client() as api:
        first = api.apply(secret_files() + files(fleet_docs()))
        assert {(c.kind, c.name, c.action) for c in first.changes} >= {("Secret", "openai", "created"),
                                                                       ("Workload", "chat", "created")}
        chat_agent = api.create_token("agent", "fra-1").token
        other_agent = api.create_token("agent", "par-1").token
        viewer = api.create_token("viewer").token
        # get/list: names, keys and digests, never a value
        listed = api.resources("secrets")
        got = api.resource("secrets", "openai")
        shown = json.dumps([r.model_dump(mode="json") for r in listed]) + got.model_dump_json()
        assert TOKEN not in shown and "acme-research" not in shown and PASSWORD not in shown
        assert [k.key for k in got.secret_keys or []] == ["org", "token"]
        assert all(len(k.digest) == 12 for k in got.secret_keys or [])
        assert got.document["spec"] == {"data": {"org": "(hidden)", "token": "(hidden)"}}
        # a re-apply of the same values changes nothing; a new value is "(changed)" in the diff
        again = api.apply(secret_files())
        assert {c.action for c in again.changes} == {"unchanged"} and again.diff == []
        rotated = api.apply(secret_files({"token": TOKEN + "-v2", "org": "acme-research"}), dry_run=True)
        [d] = [d for d in rotated.diff if d.name == "openai"]
        assert [(f.path, f.before, f.after) for f in d.fields] == [("spec.data.token", "(set)", "(changed)")]
        assert TOKEN not in rotated.model_dump_json()
        audit = json.dumps([e.model_dump(mode="json") for e in api.audit(200)])
        events = httpx.get(f"{server.url}/api/v1/events", headers={"Authorization": f"Bearer {server.admin_token}"},
                           timeout=30).text
        plan = api.plan().model_dump_json()
    assert TOKEN not in audit and PASSWORD not in audit and '"token": "(hidden)"' in audit
    assert TOKEN not in events and TOKEN not in plan
    # the database: sealed values only, in every table
    text = database_text(server)
    assert TOKEN not in text and PASSWORD not in text and "acme-research" not in text
    assert "fyenc:v1:" in text
    sealed = stored_secret(server, "openai")["spec"]["data"]  # type: ignore[index]
    assert all(v.startswith("fyenc:v1:") for v in sealed.values())
    assert sealed["token"] != stored_secret(server, "db")["spec"]["data"]["password"]  # type: ignore[index]
    # desired state: the value only for fra-1's agent; par-1's state has no trace of it
    mine = workload(desired(server, "fra-1", chat_agent), "chat")
    assert mine["secret_env"]["OPENAI_API_KEY"]["value"] == TOKEN  # type: ignore[index]
    assert mine["env"] == {"MODE": "chat", "OUT": "/tmp/chat.env.json"}
    theirs = desired(server, "par-1", other_agent)
    assert [w["name"] for w in theirs["workloads"]] == ["other"]  # type: ignore[attr-defined]
    assert TOKEN not in json.dumps(theirs) and "openai" not in json.dumps(theirs)
    for token in (viewer, server.admin_token):  # readers see the reference and digest, not the value
        view = workload(desired(server, "fra-1", token), "chat")
        ref = view["secret_env"]["OPENAI_API_KEY"]  # type: ignore[index]
        assert ref["value"] is None and ref["secret"] == "openai" and len(ref["digest"]) == 12
    r = httpx.get(f"{server.url}/api/v1/sites/fra-1/desired", headers={"Authorization": f"Bearer {other_agent}"})
    assert r.status_code == 403
    log = server.log.read_text()
    assert TOKEN not in log and PASSWORD not in log


def test_missing_references_are_errors_and_a_secret_in_use_cannot_be_deleted(server: ServerProcess) -> None:
    with server.client() as api:
        with pytest.raises(ApiError) as missing:
            api.apply(files(fleet_docs()))  # chat names Secret openai, which is not stored
        assert missing.value.status == 422
        [p] = [p for p in missing.value.problems if p.severity == "error"]
        assert p.path == "spec.secret_env.OPENAI_API_KEY.secret" and "unknown Secret 'openai'" in p.message
        assert p.file == "fleet.yaml" and p.line is not None
        api.apply(secret_files() + files(fleet_docs()[:3], "sites.yaml"))  # a fleet needs a site
        with pytest.raises(ApiError) as no_key:
            bad = fleet_docs()
            bad[3]["spec"]["secret_env"] = {"OPENAI_API_KEY": {"secret": "openai", "key": "nope"}}  # type: ignore[index]
            api.apply(files(bad))
        assert "Secret 'openai' has no key 'nope'; its keys: org, token" in str(no_key.value.problems)
        api.apply(files(fleet_docs()))
        with pytest.raises(ApiError) as in_use:
            api.delete("secrets", "openai")
        assert in_use.value.status == 422 and "unknown Secret 'openai'" in str(in_use.value.problems)
        assert api.delete("secrets", "db").changes[0].action == "deleted"
        # a secret-looking env value is applied, with a warning that names the field, not the value
        leaky = fleet_docs()
        leaky[5]["spec"]["env"] = {"OUT": "/tmp/x", "HF_TOKEN": "hf_" + "x1y2" * 8}  # type: ignore[index]
        result = api.apply(files(leaky))
        [w] = [w for w in result.warnings if w.path == "spec.env.HF_TOKEN"]
        assert "secret_env" in w.message and "x1y2" not in w.message


def test_a_tampered_ciphertext_is_a_clear_problem_not_garbage(server: ServerProcess) -> None:
    with server.client() as api:
        api.apply(secret_files() + files(fleet_docs()))
        agent = api.create_token("agent", "fra-1").token
    doc = stored_secret(server, "openai")
    sealed = doc["spec"]["data"]["token"]  # type: ignore[index]
    flipped = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    doc["spec"]["data"]["token"] = flipped  # type: ignore[index]
    set_stored_secret(server, "openai", doc)
    state = desired(server, "fra-1", agent)
    chat = workload(state, "chat")
    assert chat["secret_env"]["OPENAI_API_KEY"]["value"] is None  # type: ignore[index]
    [problem] = [p for p in state["problems"] if "Secret openai" in p]  # type: ignore[attr-defined]
    assert "key token" in problem and "tampered" in problem and "OPENAI_API_KEY" in problem
    with server.client() as api:  # get shows it unreadable; applying it again repairs it
        keys = {k.key: k.digest for k in api.resource("secrets", "openai").secret_keys or []}
        assert keys["token"] == "(unreadable)"
        assert [c.action for c in api.apply(secret_files()).changes if c.name == "openai"] == ["updated"]
    chat = workload(desired(server, "fra-1", agent), "chat")
    assert chat["secret_env"]["OPENAI_API_KEY"]["value"] == TOKEN  # type: ignore[index]


def test_a_second_server_with_another_key_refuses_to_start(server_factory: Callable[..., ServerProcess],
                                                           tmp_path: Path) -> None:
    first = server_factory(None, "one")
    with first.client() as api:
        api.apply(files([*fleet_docs()[:3], secret("openai", {"token": TOKEN})]))
    first.stop()
    other = ServerProcess(first.data, None, extra_env={"FLEETYARD_SECRETS_KEY_FILE": str(tmp_path / "other.key")})
    (tmp_path / "other.key").write_text("A" * 43 + "=\n")
    with pytest.raises(RuntimeError) as refused:
        other.start()
    assert "does not open the stored Secrets" in str(refused.value) and "Traceback" not in str(refused.value)


def test_a_backup_holds_only_ciphertext(server: ServerProcess,
                                                                         tmp_path: Path) -> None:
    import subprocess
    import sys

    with server.client() as api:
        api.apply(secret_files() + files(fleet_docs()))
    out = tmp_path / "fleet.backup"
    args = ["--data", str(server.data)] + (["--db", server.db] if server.db else [])
    r = subprocess.run([sys.executable, "-m", "fleetyard", "backup", *args, "-o", str(out)], capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    raw = out.read_bytes()
    assert TOKEN.encode() not in raw and PASSWORD.encode() not in raw and b"fyenc:v1:" in raw


def test_rotate_key_reseals_every_value_and_the_server_opens_them_with_the_new_key(
        server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    import subprocess
    import sys

    first = server_factory(None, "one")
    with first.client() as api:
        api.apply(secret_files() + files(fleet_docs()))
        agent = api.create_token("agent", "fra-1").token
    first.stop()
    before = stored_secret(first, "openai")
    new_key = tmp_path / "new.key"

    def rotate(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fleetyard", "secrets", "rotate-key", "--data", str(first.data),
                               "--new-key", str(new_key), *extra], capture_output=True, text=True, timeout=120,
                              check=False)

    r = rotate()
    assert r.returncode == 0 and "resealed 3 value(s) of 2 Secret(s)" in r.stdout, r.stderr
    assert new_key.stat().st_mode & 0o777 == 0o600
    after = stored_secret(first, "openai")
    assert after["spec"]["data"]["token"] != before["spec"]["data"]["token"]  # type: ignore[index]
    r = rotate("--key", str(new_key))  # the same key twice: refused, one line
    assert r.returncode == 2 and "holds the current key" in r.stderr and "Traceback" not in r.stderr
    rotated = ServerProcess(first.data, None, port=first.port, extra_env={"FLEETYARD_SECRETS_KEY_FILE": str(new_key)})
    rotated.start()
    try:
        chat = workload(desired(rotated, "fra-1", agent), "chat")
        assert chat["secret_env"]["OPENAI_API_KEY"]["value"] == TOKEN  # type: ignore[index]
    finally:
        rotated.stop()
