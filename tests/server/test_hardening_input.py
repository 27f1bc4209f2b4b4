"""Issue 9, findings 3 and 7: strings a database cannot store, and request body limits.

Both on SQLite and PostgreSQL, against the real server: a NUL character (or a lone
surrogate) anywhere a client can put one is a 422 naming the field, identical on
both databases, and nothing is stored; a body over its endpoint's limit is a 413
naming the limit, whether it declares its length or streams chunked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from fleetyard.server.settings import KIB, MIB, Settings
from fleetyard.services.storable import NUL_MESSAGE, SURROGATE_MESSAGE, dotted, find_unstorable
from fleetyard.services.wire import SiteReport
from tests.server.conftest import BACKENDS, ServerProcess, fleet_files

NUL_WORDS = "must not contain the NUL character"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def agent(server: ServerProcess) -> str:
    with server.client() as api:
        return api.create_token("agent", "fra-1").token


def _problem(r: httpx.Response) -> tuple[int, str, str]:
    body = r.json()
    assert body.keys() == {"detail", "problems"}, body
    first = body["problems"][0] if body["problems"] else {"path": "", "message": ""}
    return r.status_code, first["path"], first["message"]


def test_nul_in_a_heartbeat_is_a_422_naming_the_field(server: ServerProcess, agent: str) -> None:
    report = SiteReport(site="fra-1", agent_version="ok", revision=None).model_dump(mode="json")
    with httpx.Client(base_url=server.url, headers=_auth(agent)) as http:
        assert http.put("/api/v1/sites/fra-1/status", json=report).status_code == 204
        for field, value in (("agent_version", "t\u0000x"), ("peer_url", "http://x\u0000"),
                             ("active", {"m\u0000": "m:1"})):
            status, path, message = _problem(http.put("/api/v1/sites/fra-1/status", json={**report, field: value}))
            assert status == 422 and path.startswith(f"body.{field}") and NUL_WORDS in message
            assert "\x00" not in path  # a key is named escaped: `body.active.m\\x00.[key]`
        lone = json.dumps(report).replace('"ok"', '"\\ud800"')  # a lone surrogate escape
        status, path, message = _problem(http.put("/api/v1/sites/fra-1/status", content=lone))
        assert (status, path) == (422, "body") and "surrogate" in message
    with server.client() as api:
        assert next(s for s in api.status().sites if s.site == "fra-1").agent_version == "ok"


def test_nul_in_a_token_description_or_an_apply_file_name(server: ServerProcess) -> None:
    files = [f.model_dump() for f in fleet_files()]
    with httpx.Client(base_url=server.url, headers=_auth(server.admin_token), timeout=60) as http:
        before = len(http.get("/api/v1/tokens").json())
        r = http.post("/api/v1/tokens", json={"role": "viewer", "description": "a\u0000b"})
        assert _problem(r)[:2] == (422, "body.description") and NUL_WORDS in r.json()["detail"]
        assert len(http.get("/api/v1/tokens").json()) == before
        files[0]["name"] = "regions\u0000.yaml"
        assert _problem(http.post("/api/v1/apply", json={"files": files}))[:2] == (422, "body.files[0].name")


def test_nul_made_by_a_yaml_escape_names_file_line_and_field(server: ServerProcess) -> None:
    region = ('apiVersion: fleetyard/v1\nkind: Region\nmetadata:\n  name: nul-land\n'
              '  labels: {team: "a\\0b"}\nspec:\n  location: {lat: 1, lon: 2}\n')
    with httpx.Client(base_url=server.url, headers=_auth(server.admin_token), timeout=60) as http:
        r = http.post("/api/v1/apply", json={"files": [{"name": "nul.yaml", "content": region}]})
        assert r.status_code == 422, r.text
        problem = r.json()["problems"][0]
        assert (problem["file"], problem["line"], problem["path"]) == ("nul.yaml", 5, "metadata.labels.team")
        assert "NUL character" in problem["message"]  # the spec loader refuses it first (spec/yamlsource.py)
        surrogate = region.replace('"a\\0b"', '"\\ud800"')  # libyaml refuses it; else find_unstorable does
        r = http.post("/api/v1/apply", json={"files": [{"name": "s.yaml", "content": surrogate}]})
        assert r.status_code == 422 and r.json()["problems"][0]["file"] == "s.yaml"
        assert http.get("/api/v1/resources/regions/nul-land").status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/resources/sites%00", "/api/v1/resources/sites/fra%001",
                                  "/api/v1/tokens/tok_%00", "/api/v1/audit?action=a%00",
                                  "/api/v1/registry/objects?prefix=packs%00", "/api/v1/sites/fra%00/desired"])
def test_nul_in_a_path_or_query_parameter(server: ServerProcess, path: str) -> None:
    method = "DELETE" if "tokens" in path else "GET"
    r = httpx.request(method, server.url + path, headers=_auth(server.admin_token))
    status, where, message = _problem(r)
    assert status == 422 and where.split(".")[0] in ("path", "query") and NUL_WORDS in message


def test_database_bounds_are_schema_bounds(server: ServerProcess, agent: str) -> None:
    """What PostgreSQL would refuse (INTEGER, VARCHAR(63), NaN in JSON) is a 422 on both."""
    report = SiteReport(site="fra-1", agent_version="ok", revision=None).model_dump(mode="json")
    with httpx.Client(base_url=server.url, headers=_auth(agent)) as http:
        assert _problem(http.put("/api/v1/sites/fra-1/status", json={**report, "revision": 2**31}))[:2] == \
            (422, "body.revision")
        nan = json.dumps({**report, "telemetry": {"gpu_power_w": 1.0}}).replace("1.0", "NaN")
        assert _problem(http.put("/api/v1/sites/fra-1/status", content=nan))[:2] == (422, "body.telemetry.gpu_power_w")
    long_site = "s" * 64
    r = httpx.put(f"{server.url}/api/v1/sites/{long_site}/status", json={**report, "site": long_site},
                  headers=_auth(server.admin_token))
    assert _problem(r)[:2] == (422, "body.site")
    r = httpx.post(f"{server.url}/api/v1/tokens", json={"role": "viewer", "ttl_hours": 1e308},
                   headers=_auth(server.admin_token))
    assert _problem(r)[:2] == (422, "body.ttl_hours")


def test_find_unstorable_names_the_path() -> None:
    doc = {"metadata": {"name": "x", "labels": {"a": "ok"}}, "spec": {"gpus": [{"sku": "L4"}, {"sku": "\ud800"}]}}
    assert find_unstorable(doc) == (("spec", "gpus", 1, "sku"), SURROGATE_MESSAGE)
    assert find_unstorable({"k\x00": 1}) == ((), "key 'k\\x00' " + NUL_MESSAGE)
    assert find_unstorable(doc["metadata"]) is None and dotted(("spec", "gpus", 1, "sku")) == "spec.gpus[1].sku"


# ---- body limits ---------------------------------------------------------------------------

LIMITS = {"FLEETYARD_MAX_APPLY_BYTES": str(64 * KIB), "FLEETYARD_MAX_OBJECT_BYTES": str(256 * KIB),
          "FLEETYARD_MAX_HEARTBEAT_BYTES": str(8 * KIB), "FLEETYARD_MAX_JSON_BYTES": str(1 * KIB)}


def test_default_limits() -> None:
    s = Settings()
    assert (s.max_apply_bytes, s.max_object_bytes, s.max_heartbeat_bytes, s.max_json_bytes) == \
        (16 * MIB, 256 * MIB, 1 * MIB, 64 * KIB)


@pytest.fixture(scope="module", params=BACKENDS)
def small(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with small limits (same code path as the defaults, cheaper bodies)."""
    db = request.getfixturevalue("postgres").new_database() if request.param == "postgres" else None
    s = ServerProcess(tmp_path_factory.mktemp(f"limits-{request.param}"), db, extra_env=LIMITS).start()
    try:
        yield s
    finally:
        s.stop()


def _chunked(data: bytes, size: int = 4096) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]




@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_bodies_over_their_limit_are_a_413_naming_it(small: ServerProcess, chunked: bool) -> None:
    admin = _auth(small.admin_token)
    with httpx.Client(base_url=small.url, headers=admin, timeout=60) as http:

        def send(method: str, path: str, data: bytes, **headers: str) -> httpx.Response:
            return http.request(method, path, content=_chunked(data) if chunked else data,
                                headers={"Content-Type": "application/json", **headers})

        big_yaml = json.dumps({"files": [{"name": "big.yaml", "content": "#" * (65 * KIB)}]}).encode()
        big_report = json.dumps({"site": "fra-1", "agent_version": "x" * (9 * KIB), "revision": None}).encode()
        big_token = json.dumps({"role": "viewer", "description": "d" * KIB}).encode()
        tokens_before = len(http.get("/api/v1/tokens").json())
        cases = [("POST", "/api/v1/apply", big_yaml, "apply limit of 64 KiB", "FLEETYARD_MAX_APPLY_BYTES"),
                 ("PUT", "/api/v1/sites/fra-1/status", big_report, "heartbeat limit of 8 KiB",
                  "FLEETYARD_MAX_HEARTBEAT_BYTES"),
                 ("POST", "/api/v1/tokens", big_token, "JSON request limit of 1 KiB", "FLEETYARD_MAX_JSON_BYTES"),
                 ("PUT", "/api/v1/registry/objects/leases/big.json", b"x" * (257 * KIB),
                  "registry object limit of 256 KiB", "FLEETYARD_MAX_OBJECT_BYTES")]
        for method, path, data, words, setting in cases:
            r = send(method, path, data)
            assert r.status_code == 413, (path, r.status_code, r.text)
            assert words in r.json()["detail"] and setting in r.json()["detail"], r.text
        assert http.head("/api/v1/registry/objects/leases/big.json").status_code == 404
        assert len(http.get("/api/v1/tokens").json()) == tokens_before
        # just under every limit is fine
        assert send("PUT", "/api/v1/registry/objects/leases/ok.json", b"x" * (256 * KIB)).status_code in (201, 204)
        ok = json.dumps({"role": "viewer", "description": "d" * 900}).encode()
        assert send("POST", "/api/v1/tokens", ok).status_code == 201
