"""The OFREP listener on a real loopback socket (agent/ofrep.py): OFREP's shapes for answers and
errors, the bulk ETag, limits on the body, and the flags file (atomic, reloaded, a bad one
ignored)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleetyard.agent.ofrep import MAX_BODY, FlagBook, OfrepServer, saved_flags
from fleetyard.rollout.flags import SiteFacts, resolve
from fleetyard.spec.models import Flag

FACTS = SiteFacts(site="fra-1", country="DE", region="eu-central")


def _flag(name: str, spec: dict[str, object]) -> Flag:
    return Flag.model_validate({"apiVersion": "fleetyard/v1", "kind": "Flag", "metadata": {"name": name},
                                "spec": spec})


FLAGS = [resolve(_flag("dark-mode", {"type": "boolean", "default": True}), FACTS),
         resolve(_flag("split", {"type": "string", "default": "a", "rules": [{"percent": 50, "variant": "b"}]}),
                 FACTS)]


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, FlagBook]]:
    book = FlagBook(tmp_path / "state" / "flags.json")
    book.update(FLAGS, "rev-1")
    server = OfrepServer(book, "127.0.0.1", 0)
    server.start()
    try:
        yield server.url, book
    finally:
        server.stop()


def test_single_evaluation_answers_and_errors_in_ofrep_shapes(listener: tuple[str, FlagBook]) -> None:
    url, _ = listener
    ok = httpx.post(f"{url}/ofrep/v1/evaluate/flags/dark-mode", json={"context": {}})
    assert ok.status_code == 200 and ok.json() == {"key": "dark-mode", "value": True, "reason": "STATIC",
                                                   "variant": "true", "metadata": {"flagsRevision": "rev-1"}}
    assert httpx.post(f"{url}/ofrep/v1/evaluate/flags/dark-mode").json()["value"] is True  # no body: no context
    nf = httpx.post(f"{url}/ofrep/v1/evaluate/flags/nope", json={})
    assert nf.status_code == 404 and nf.json()["errorCode"] == "FLAG_NOT_FOUND" and nf.json()["key"] == "nope"
    missing = httpx.post(f"{url}/ofrep/v1/evaluate/flags/split", json={"context": {}})
    assert missing.status_code == 400 and missing.json()["errorCode"] == "TARGETING_KEY_MISSING"
    for body, code in ((b"{nope", "PARSE_ERROR"), (b"[1, 2]", "PARSE_ERROR"), (b'{"context": [1]}', "INVALID_CONTEXT"),
                       (b'{"context": {"targetingKey": {"a": 1}}}', "INVALID_CONTEXT")):
        r = httpx.post(f"{url}/ofrep/v1/evaluate/flags/split", content=body)
        assert r.status_code == 400 and r.json()["errorCode"] == code, (body, r.text)
        assert r.json()["errorDetails"]
    assert httpx.post(f"{url}/ofrep/v1/evaluate/other", json={}).status_code == 404
    assert httpx.get(f"{url}/nowhere").status_code == 404
    conf = httpx.get(f"{url}/ofrep/v1/configuration").json()
    assert conf["capabilities"]["flagEvaluation"]["supportedTypes"] == ["boolean", "string", "int", "float",
                                                                         "object"]


def test_a_body_over_the_limit_is_refused_without_reading_it(listener: tuple[str, FlagBook]) -> None:
    url, _ = listener
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"POST /ofrep/v1/evaluate/flags/split HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY + 1}\r\n"
                  "\r\n".encode())
        answer = b""
        while chunk := s.recv(4096):  # the listener closes the connection after answering
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"PARSE_ERROR" in answer


def test_bulk_evaluation_with_etag(listener: tuple[str, FlagBook]) -> None:
    url, book = listener
    first = httpx.post(f"{url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "k"}})
    assert first.status_code == 200
    assert [f["key"] for f in first.json()["flags"]] == ["dark-mode", "split"]
    etag = first.headers["ETag"]
    assert httpx.post(f"{url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "k"}},
                      headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert httpx.post(f"{url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "j"}},
                      headers={"If-None-Match": etag}).status_code == 200  # another caller, another answer
    assert book.update(FLAGS[:1], "rev-2")
    after = httpx.post(f"{url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "k"}},
                       headers={"If-None-Match": etag})
    assert after.status_code == 200 and [f["key"] for f in after.json()["flags"]] == ["dark-mode"]
    no_key = httpx.post(f"{url}/ofrep/v1/evaluate/flags", json={}).json()["flags"]
    assert no_key[0]["value"] is True
    bad = httpx.post(f"{url}/ofrep/v1/evaluate/flags", content=b"nope")
    assert bad.status_code == 400 and bad.json()["errorCode"] == "PARSE_ERROR"


def test_the_flags_file_is_written_atomically_and_read_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state" / "flags.json"
    assert not saved_flags(path)
    book = FlagBook(path)
    assert book.update(FLAGS, "rev-1") and not book.update(FLAGS, "rev-1")  # the same revision: nothing to write
    assert [p.name for p in path.parent.iterdir()] == ["flags.json"]  # no temporary file left
    again = FlagBook(path)
    assert again.revision == "rev-1" and again.snapshot()[0] == {f.key: f for f in FLAGS} and saved_flags(path)
    path.write_text(json.dumps({"revision": "x", "flags": [{"key": 1}]}))
    broken = FlagBook(path)
    assert broken.revision == "" and broken.snapshot()[0] == {} and not saved_flags(path)
    assert "ignoring" in capsys.readouterr().err


def test_a_bad_flags_listen_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fleetyard.cli.app import app

    r = CliRunner().invoke(app, ["agent", "--site", "s", "--server", "http://127.0.0.1:9", "--token", "t",
                                 "--data-dir", str(tmp_path), "--trust-key", str(tmp_path / "k.pub"),
                                 "--flags-listen", "nope"], env={"COLUMNS": "200"})
    assert r.exit_code == 2 and "--flags-listen 'nope': expected HOST:PORT" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
