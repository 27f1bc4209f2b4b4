"""Flags on the real server (SQLite and PostgreSQL): applied, stored, resolved per site in the
desired state, a `flag.changed` event per change, no re-plan for a flag-only change, and a
bad flag refused with the loader's own words and nothing stored."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fleetyard.cli.app import app
from fleetyard.services.client import ApiError, Client
from fleetyard.services.db import Database
from fleetyard.services.events import list_events
from fleetyard.services.wire import SpecFile
from tests.server.conftest import ServerProcess

FLAGS = """\
apiVersion: fleetyard/v1
kind: Flag
metadata: {name: new-tokenizer}
spec:
  type: boolean
  default: false
  rules:
    - match: {country: [DE]}
      percent: 20
      variant: true
---
apiVersion: fleetyard/v1
kind: Flag
metadata: {name: max-tokens}
spec:
  type: integer
  variants: {small: 256, large: 4096}
  default: small
  rules:
    - match: {region: [eu-west]}
      variant: large
"""


def _db(server: ServerProcess) -> Database:
    return Database(server.db or f"sqlite:///{server.data / 'fleetyard.db'}")


def _agent(server: ServerProcess, site: str) -> Client:
    with server.client() as api:
        return Client(server.url, api.create_token("agent", site).token)


def test_flags_reach_each_site_resolved_for_it(server: ServerProcess) -> None:
    with server.client() as api:
        before = api.plan()
        result = api.apply([SpecFile(name="flags.yaml", content=FLAGS)])
        assert {(c.kind, c.name, c.action) for c in result.changes} == {
            ("Flag", "new-tokenizer", "created"), ("Flag", "max-tokens", "created")}
        assert result.plan_changes == [] and result.revision == before.revision + 1
        after = api.plan()
        assert after.assignments == before.assignments  # flags are never planned
        assert [r.name for r in api.resources("flags")] == ["new-tokenizer", "max-tokens"]
    got = CliRunner().invoke(app, ["get", "flags", "--server", server.url, "--token", server.admin_token],
                             env={"COLUMNS": "200"})
    assert got.exit_code == 0, got.stderr
    rows = [[c.strip() for c in line.strip("│ ").split("│")] for line in got.stdout.splitlines()]
    row = next((r for r in rows if r[0] == "new-tokenizer"), [])
    assert row[:5] == ["new-tokenizer", "boolean", "false", "1", "yes"], got.stdout

    fra = _agent(server, "fra-1").desired("fra-1")  # DE, nearest eu-central
    par = _agent(server, "par-1").desired("par-1")  # FR, nearest eu-west
    by = {f.key: f for f in fra.flags}
    assert [f.key for f in fra.flags] == ["max-tokens", "new-tokenizer"]
    assert [(r.percent, r.variant) for r in by["new-tokenizer"].rules] == [(20, "true")]
    assert by["max-tokens"].rules == [] and by["max-tokens"].variants == {"small": 256}
    pby = {f.key: f for f in par.flags}
    assert pby["new-tokenizer"].rules == [] and [r.variant for r in pby["max-tokens"].rules] == ["large"]
    assert fra.flags_revision and par.flags_revision and fra.flags_revision != par.flags_revision

    with server.client() as api:  # the same flags again: nothing changes, the revision stays
        again = api.apply([SpecFile(name="flags.yaml", content=FLAGS)])
        assert {c.action for c in again.changes} == {"unchanged"} and again.revision == result.revision
        flipped = api.apply([SpecFile(name="flags.yaml", content=FLAGS.replace("percent: 20", "percent: 50"))])
        assert [(c.name, c.action) for c in flipped.changes if c.action != "unchanged"] == [
            ("new-tokenizer", "updated")]
    fra2 = _agent(server, "fra-1").desired("fra-1")
    assert fra2.flags_revision != fra.flags_revision
    assert _agent(server, "par-1").desired("par-1").flags_revision == par.flags_revision  # par-1 serves the same

    with server.client() as api:
        api.delete("flags", "max-tokens")
    assert [f.key for f in _agent(server, "fra-1").desired("fra-1").flags] == ["new-tokenizer"]

    db = _db(server)
    try:
        with db.session() as s:
            events = list_events(s, kind="flag.changed")
    finally:
        db.dispose()
    assert [(e.subject, (e.data or {}).get("action")) for e in events] == [
        ("new-tokenizer", "created"), ("max-tokens", "created"), ("new-tokenizer", "updated"),
        ("max-tokens", "deleted")]
    assert len(events) == 4
    assert "new-tokenizer updated by" in events[2].message and "default false, 1 rule" in events[2].message
    assert "no longer served" in events[3].message


@pytest.mark.parametrize(("old", "new", "path", "words"), [
    ("variant: true", "variant: 'yes'", "spec.rules[0].variant", "expected true or false"),
    ("match: {country: [DE]}", "match: {site: [fra-9]}", "spec.rules[0].match.site[0]", "unknown site 'fra-9'"),
])
def test_a_bad_flag_is_422_with_file_line_field_and_nothing_is_stored(server: ServerProcess, old: str, new: str,
                                                                      path: str, words: str) -> None:
    with server.client() as api:
        stored = [r.name for r in api.resources("flags")]
        revision = api.plan().revision
        with pytest.raises(ApiError) as info:
            api.apply([SpecFile(name="bad-flags.yaml", content=FLAGS.replace(old, new))])
        assert info.value.status == 422
        [p] = [p for p in info.value.problems if p.severity == "error"]
        assert (p.file, p.path) == ("bad-flags.yaml", path) and words in p.message
        bad = FLAGS.replace(old, new).splitlines()
        assert p.line == next(i for i, line in enumerate(bad, 1) if new in line)
        assert [r.name for r in api.resources("flags")] == stored and api.plan().revision == revision
