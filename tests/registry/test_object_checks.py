"""Manifests and aliases are checked on write and on read; one bad object hides nothing.

Bad objects are planted with the backend directly (as a store written by an older or a
hostile writer would hold them); the store, `registry ls`, `verify`, `pull`, `gc` and the
upload checks of the server are then asked about them.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from fleetyard.registry import IntegrityError, InvalidInputError, Store, gc, pull, push, verify_store
from fleetyard.registry.manifest import VersionManifest
from fleetyard.registry.paths import path_problem, paths_problem
from fleetyard.registry.schema import SchemaError, parse_alias, parse_manifest
from fleetyard.registry.uploads import check_key, check_upload
from tests.registry.conftest import run_cli, write_model


@pytest.fixture
def pushed(local_store: Store, tmp_path: Path) -> VersionManifest:
    src = write_model(tmp_path / "m", shards=1, rows=16)
    return push(local_store, src, "m", "1", alias="prod", labels={"team": "a"}).manifest


def doc_of(m: VersionManifest) -> dict:
    return json.loads(m.to_json())


def put_manifest(store: Store, key: str, doc: dict | bytes) -> None:
    store.backend.put(key, doc if isinstance(doc, bytes) else json.dumps(doc).encode())


# --- the path rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "why"), [
    ("config.json", None),
    ("sub/dir/model.safetensors", None),
    ("..x/y..", None),
    ("", "is empty"),
    ("/etc/passwd", "is absolute"),
    ("../outside", "climbs out with '..'"),
    ("a/../../b", "climbs out with '..'"),
    ("a//b", "empty or '.' part"),
    ("./a", "empty or '.' part"),
    ("a/", "empty or '.' part"),
    ("a\0b", "NUL"),
    ("x" * 256, "longer than 255 bytes"),
    ("a/" * 2100 + "b", "more than 4,096"),
    ("\ud800", "not valid UTF-8"),
    ("model.sig", "pull writes from the signature"),
])
def test_path_problem(path, why):
    got = path_problem(path)
    assert got is None if why is None else why in (got or ""), got


def test_paths_problem_finds_twins_and_files_that_are_folders():
    assert paths_problem(["a", "b/c"]) is None
    assert "'a' is listed twice" in (paths_problem(["a", "b", "a"]) or "")
    assert "'b' is also the folder of another file" in (paths_problem(["b", "b/c"]) or "")
    assert "'../x' climbs out" in (paths_problem(["ok", "../x"]) or "")


# --- the schema ------------------------------------------------------------------------------------


def test_a_pushed_manifest_follows_the_schema(pushed):
    assert parse_manifest(pushed.to_json()).name == "m"
    assert VersionManifest.from_json(pushed.to_json(), "k") == pushed


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d.clear(), "format: Field required; name: Field required"),
    (lambda d: d.update(format=4), "format: Input should be 1, 2 or 3"),
    (lambda d: d.update(format=3), "format 3 without encryption: expected format 3 exactly when encryption"),
    (lambda d: d.update(format=2), "format 2 without provenance: expected format 2 exactly when provenance"),
    (lambda d: d.update(size="12"), "size: Input should be a valid integer"),
    (lambda d: d.update(extra=1), "extra: Extra inputs are not permitted"),
    (lambda d: d.update(name="Bad Name"), "invalid model name 'Bad Name'"),
    (lambda d: d.update(created="yesterday"), "expected an ISO 8601 time"),
    (lambda d: d.update(recipe="zz"), "recipe: String should match pattern"),
    (lambda d: d.update(size=d["size"] + 1), "is not the sum of the file sizes"),
    (lambda d: d.update(files=[]), "files: List should have at least 1 item"),
    (lambda d: d["files"][0].update(path="../../etc/cron.d/x"), "climbs out with '..'"),
    (lambda d: d["files"][0].update(path="/etc/passwd"), "is absolute"),
    (lambda d: d["files"][0].update(mode=0o4755), "files[0].mode: Input should be 420 or 493"),
    (lambda d: d["files"][0].update(size=-1), "files[0].size: Input should be greater than or equal to 0"),
    (lambda d: d["labels"].update({"k": "v\0"}), "contains a NUL character"),
    (lambda d: d.update(parent="m@prod"), "invalid reference 'm@prod'"),
])
def test_a_manifest_off_the_schema_is_refused_with_the_reason(pushed, change, words):
    doc = doc_of(pushed)
    change(doc)
    with pytest.raises(SchemaError) as info:
        parse_manifest(json.dumps(doc).encode())
    assert words in str(info.value)


@pytest.mark.parametrize(("data", "words"), [
    (b"not json", "Invalid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "recursion limit"),
    (b"[]", "Input should be an object"),
    (b" " * (64 * 1024 * 1024 + 1), "more than 67,108,864"),
])
def test_bytes_that_are_no_manifest(data, words):
    with pytest.raises(SchemaError, match=words):
        parse_manifest(data)


def test_alias_schema():
    assert parse_alias(b'{"version": "3", "updated": "2025-01-01T00:00:00Z"}').version == "3"
    for bad, words in ((b"{}", "version: Field required"), (b'{"version": 3}', "valid string"),
                       (b'{"version": "../3"}', "invalid version"), (b"x" * 5000, "more than 4,096")):
        with pytest.raises(SchemaError, match=words):
            parse_alias(bad)


# --- reading: one bad object is skipped and reported ----------------------------------------------


def test_a_listing_skips_and_reports_bad_manifests_and_aliases(local_store, pushed, caplog):
    put_manifest(local_store, "versions/evil/1.json", {})
    elsewhere = doc_of(pushed) | {"version": "2"}
    put_manifest(local_store, "versions/m/9.json", elsewhere)  # a valid manifest at another's key
    local_store.backend.put("aliases/m/broken.json", b'{"versions": "1"}')
    listing = local_store.listing()
    assert [m.ref for m in listing.versions] == ["m:1"]
    assert listing.aliases == {"m@prod": "1"}
    problems = {p.key: p.message for p in listing.problems}
    assert set(problems) == {"versions/evil/1.json", "versions/m/9.json", "aliases/m/broken.json"}
    assert problems["versions/evil/1.json"].startswith("manifest versions/evil/1.json is malformed: format: Field")
    assert "describes m:2, whose key is versions/m/2.json" in problems["versions/m/9.json"]
    assert "alias aliases/m/broken.json is corrupted" in problems["aliases/m/broken.json"]
    with caplog.at_level(logging.WARNING, logger="fleetyard.registry.store"):
        assert [m.ref for m in local_store.versions()] == ["m:1"]
        assert local_store.aliases("m") == {"prod": "1"}
    assert sum("skipped unreadable registry object" in r.message for r in caplog.records) == 3
    with pytest.raises(IntegrityError, match="and 1 more"):
        local_store.versions(strict=True)
    with pytest.raises(IntegrityError, match="is malformed"):
        gc(local_store, dry_run=True)  # never collect chunks for a view with holes in it
    with pytest.raises(IntegrityError, match="is malformed"):
        local_store.manifest("evil", "1")


def test_a_malformed_version_can_be_removed(local_store, pushed):
    put_manifest(local_store, "versions/evil/1.json", {})
    local_store.remove_version("evil", "1")
    assert local_store.listing().problems == []
    with pytest.raises(InvalidInputError, match="not found"):
        local_store.remove_version("evil", "1")


def test_registry_ls_warns_and_lists_the_rest(local_store, pushed):
    put_manifest(local_store, "versions/evil/1.json", {})
    r = run_cli("registry", "ls", "-r", local_store.url)
    assert r.returncode == 0, r.stderr
    assert "m:1" in r.stdout and "prod" in r.stdout
    assert r.stderr.startswith("warning: skipped versions/evil/1.json: manifest versions/evil/1.json is malformed")
    r = run_cli("registry", "ls", "-r", local_store.url, "--format", "json")
    assert [row["ref"] for row in json.loads(r.stdout)] == ["m:1"]


def test_verify_checks_the_paths_pull_checks(local_store, pushed, tmp_path):
    doc = doc_of(pushed)
    doc["files"][0]["path"] = "../escaped.txt"
    key = "versions/m/1.json"
    put_manifest(local_store, key, doc)
    report = verify_store(local_store)
    assert not report.ok
    (bad,) = [p for p in report.problems if p.kind == "corrupt-manifest"]
    reason = "file path '../escaped.txt' climbs out with '..': escapes the version folder"
    assert bad.message == f"manifest {key} is malformed: {reason}"
    with pytest.raises(IntegrityError, match="climbs out"):
        pull(local_store, "m:1", tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "out").exists()
    r = run_cli("registry", "verify", "-r", local_store.url)
    assert r.returncode == 3 and reason in r.stdout + r.stderr


def test_pull_applies_the_same_rule_to_a_manifest_it_is_handed(local_store, pushed, tmp_path, monkeypatch):
    entry = pushed.files[0]
    bad = VersionManifest(**{**pushed.__dict__, "files": (type(entry)("/abs", entry.size, entry.mode, entry.digest),
                                                          *pushed.files[1:])})
    monkeypatch.setattr(Store, "resolve", lambda self, ref: bad)
    with pytest.raises(InvalidInputError, match="file path '/abs' is absolute"):
        pull(local_store, "m:1", tmp_path / "out")


def test_verify_reports_a_corrupted_alias(local_store, pushed):
    local_store.backend.put("aliases/m/bad.json", b"[1]")
    kinds = {p.kind for p in verify_store(local_store).problems}
    assert kinds == {"corrupt-alias"}


# --- writing: what the server's object API lets through ---------------------------------------------


def upload(store: Store, tmp_path: Path, key: str, data: bytes) -> None:
    staged = tmp_path / "staged"
    staged.write_bytes(data)
    check_upload(store.backend, key, staged)


def test_uploads_of_manifests_and_aliases_are_checked(local_store, pushed, tmp_path):
    good = pushed.to_json()
    upload(local_store, tmp_path, "versions/m/1.json", good)
    with pytest.raises(InvalidInputError, match=re.escape("versions/evil/1.json is malformed: format: Field required")):
        upload(local_store, tmp_path, "versions/evil/1.json", b"{}")
    with pytest.raises(InvalidInputError, match=re.escape("describes m:1, whose key is versions/m/1.json")):
        upload(local_store, tmp_path, "versions/m/2.json", good)
    upload(local_store, tmp_path, "aliases/m/prod.json", b'{"version": "1"}')
    with pytest.raises(InvalidInputError, match=re.escape("aliases/m/prod.json is malformed: version: Field required")):
        upload(local_store, tmp_path, "aliases/m/prod.json", b"{}")


def test_uploads_of_recipes_and_indexes_must_match_their_names(local_store, pushed, tmp_path):
    key = f"recipes/{pushed.recipe}"
    recipe = local_store.backend.get(key)
    upload(local_store, tmp_path, key, recipe)  # rewriting a recipe with itself is fine
    with pytest.raises(InvalidInputError, match="a recipe is named by its hash"):
        upload(local_store, tmp_path, key, recipe + b"\0")
    with pytest.raises(InvalidInputError, match="not a recipe"):
        upload(local_store, tmp_path, key, b"garbage")
    idx = next(o.key for o in local_store.backend.list("packs/") if o.key.endswith(".idx"))
    upload(local_store, tmp_path, idx, local_store.backend.get(idx))
    with pytest.raises(InvalidInputError, match="checksum mismatch"):
        upload(local_store, tmp_path, idx, local_store.backend.get(idx)[:-1] + b"x")
    with pytest.raises(InvalidInputError, match="is not stored; write the pack first"):
        upload(local_store, tmp_path, "packs/00/00" + "1" * 30 + ".idx", local_store.backend.get(idx))


@pytest.mark.parametrize(("key", "words"), [
    ("versions/Evil/1.json", "invalid model name 'Evil'"),
    ("versions/m/1.txt", "expected versions/<name>/<file>.json"),
    ("versions/m/a/1.json", "expected versions/<name>/<file>.json"),
    ("aliases/m/Prod.json", "invalid alias 'Prod'"),
    ("recipes/xyz", "expected recipes/<BLAKE3 hex of the recipe>"),
])
def test_keys_no_object_can_have_are_refused_before_the_body(key, words):
    with pytest.raises(InvalidInputError, match=words):
        check_key(key)


def test_push_refuses_labels_no_manifest_can_hold_before_any_work(local_store, tmp_path):
    src = write_model(tmp_path / "m", shards=1, rows=16)
    with pytest.raises(InvalidInputError, match=re.escape("labels.k: contains a NUL character")):
        push(local_store, src, "m", "1", labels={"k": "v\0"})
    assert list(local_store.backend.list("packs/")) == []
