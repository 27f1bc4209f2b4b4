"""Issue 9, findings 5, 8 and 10: no admin lockout, who-may-call before what-was-sent,
one error body and an OpenAPI document that states what the routes answer.

On SQLite and PostgreSQL against the real server; plus: a long apply runs in a worker
thread, so the server keeps answering while it plans.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from fleetyard.services.client import ApiError
from fleetyard.services.wire import SpecFile
from tests.server.conftest import BACKENDS, ServerProcess, fleet_files


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


# ---- 5: lockout --------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_the_last_admin_token_cannot_be_revoked(backend: str, new_database: Callable[[str], str | None],
                                               server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(new_database(backend))
    with server.client() as api:
        first = api.tokens()[0]
        with pytest.raises(ApiError) as e:
            api.revoke_token(first.id)
        assert e.value.status == 409 and "last active admin token without expiry" in e.value.message
        assert "Create another admin token first" in e.value.message
        expiring = api.create_token("admin", ttl_hours=1)  # one that expires does not count
        with pytest.raises(ApiError) as e:
            api.revoke_token(first.id)
        assert e.value.status == 409 and "the other 1 active admin token expire" in e.value.message
        assert first.id in {t.id for t in api.tokens()}  # still active, still answers
        api.revoke_token(expiring.id)  # an extra admin token can go
        second = api.create_token("admin")
    with server.client(second.token) as api:
        api.revoke_token(first.id)  # another never-expiring admin remains
        with pytest.raises(ApiError) as e:
            api.revoke_token(second.id)  # itself, now the last one
        assert e.value.status == 409
        assert [t.id for t in api.tokens()] == [second.id]
        assert [a.action for a in api.audit(10)].count("token.revoke") == 2


# ---- 8: authorization before the body ----------------------------------------------------

@pytest.fixture(scope="module")
def roles(server: ServerProcess) -> dict[str, str]:
    with server.client() as api:
        return {"viewer": api.create_token("viewer").token, "agent": api.create_token("agent", "fra-1").token}


MALFORMED = [  # (method, path, body): every endpoint class that takes a body or parameters
    ("POST", "/api/v1/apply", b'{"files": "nope"}'),
    ("POST", "/api/v1/apply", b"not json at all"),
    ("POST", "/api/v1/tokens", b'{"role": "emperor"}'),
    ("POST", "/api/v1/tokens", b"{"),
    ("PUT", "/api/v1/sites/par-1/status", b'{"site": 7}'),
    ("PUT", "/api/v1/registry/objects/versions/x/1.json", b"{}"),
    ("DELETE", "/api/v1/resources/sites/fra-1?dry_run=maybe", b""),
    ("DELETE", "/api/v1/tokens/tok_%00", b""),
    ("DELETE", "/api/v1/registry/objects/versions/x/1.json", b""),
    ("GET", "/api/v1/tokens", b""),
]


@pytest.mark.parametrize(("method", "path", "body"), MALFORMED)
def test_who_may_call_is_answered_before_what_was_sent(server: ServerProcess, roles: dict[str, str], method: str,
                                                       path: str, body: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    r = httpx.request(method, server.url + path, content=body, headers=headers)
    assert r.status_code == 401 and r.json()["problems"] == [], r.text
    for who in ("viewer", "agent"):  # the agent is fra-1's: par-1's heartbeat is not its to send
        r = httpx.request(method, server.url + path, content=body, headers={**headers, **_auth(roles[who])})
        assert r.status_code == 403 and r.json()["problems"] == [], (who, r.text)


def test_the_right_caller_gets_the_validation_details(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/api/v1/apply", content=b"not json", headers=_auth(server.admin_token))
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "body"
    r = httpx.post(f"{server.url}/api/v1/apply", json={"files": [], "dry_run": 0}, headers=_auth(server.admin_token))
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "body.dry_run"  # strict: 0 is not false


# ---- 10: one error shape, an honest document -----------------------------------------------

def test_every_error_has_one_shape(server: ServerProcess) -> None:
    admin = _auth(server.admin_token)
    answers = [httpx.get(f"{server.url}/nowhere", headers=admin),
               httpx.get(f"{server.url}/api/v1/resources/gadgets", headers=admin),
               httpx.get(f"{server.url}/api/v1/audit?limit=0", headers=admin),
               httpx.get(f"{server.url}/metrics"),
               httpx.patch(f"{server.url}/api/v1/apply", headers=admin)]
    assert [r.status_code for r in answers] == [404, 404, 422, 401, 405]
    for r in answers:
        body = r.json()
        assert body.keys() == {"detail", "problems"} and isinstance(body["detail"], str), body
        assert isinstance(body["problems"], list)
    assert answers[2].json()["problems"][0]["path"] == "query.limit"


@pytest.mark.parametrize(("path", "allow"), [
    ("/api/v1/registry/objects/packs/x.pack", "DELETE, GET, HEAD, PUT"),
    ("/api/v1/tokens", "GET, POST"),
    ("/api/v1/resources/sites/fra-1", "DELETE, GET"),
    ("/api/v1/apply", "POST"),
    ("/healthz", "GET"),
])
def test_405_names_every_method_of_the_path(server: ServerProcess, path: str, allow: str) -> None:
    r = httpx.request("PATCH", server.url + path, headers=_auth(server.admin_token))
    assert r.status_code == 405 and r.headers["allow"] == allow


def test_the_document_states_every_error(server: ServerProcess) -> None:
    doc = httpx.get(f"{server.url}/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path == "/healthz":
                continue
            codes = set(op["responses"])
            assert {"401", "403", "503"} <= codes, (method, path)
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in codes, (method, path)
            for code, answer in op["responses"].items():
                if code >= "400" and method != "head":
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/ErrorOut", (method, path, code)
    assert {"404"} <= set(doc["paths"]["/api/v1/plan"]["get"]["responses"])
    assert {"404", "409"} <= set(doc["paths"]["/api/v1/tokens/{token_id}"]["delete"]["responses"])
    assert {"409", "413"} <= set(doc["paths"]["/api/v1/apply"]["post"]["responses"])
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


# ---- the apply runs off the event loop -----------------------------------------------------

def _regions(n: int) -> SpecFile:
    docs = "".join(f"---\napiVersion: fleetyard/v1\nkind: Region\nmetadata: {{name: loop-{i}}}\n"
                   f"spec:\n  location: {{lat: {(i % 170) - 85}, lon: {(i * 7) % 360 - 180}}}\n" for i in range(n))
    return SpecFile(name="loop.yaml", content=docs)


def test_the_server_answers_while_an_apply_plans(server: ServerProcess) -> None:
    done: list[float] = []

    def big_apply() -> None:
        started = time.monotonic()
        with server.client() as api:
            api.apply([*fleet_files(), _regions(3000)], dry_run=True)
        done.append(time.monotonic() - started)

    t = threading.Thread(target=big_apply)
    t.start()
    slowest = 0.0
    answered = 0
    while t.is_alive():
        started = time.monotonic()
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        slowest = max(slowest, time.monotonic() - started)
        answered += 1
        time.sleep(0.05)
    t.join()
    assert done and (answered >= 3 or done[0] < 1.0)
    print(f"apply {done[0]:.2f} s, {answered} healthz answers, slowest {slowest:.3f} s")
    assert slowest < 1.0, f"healthz took {slowest:.2f} s while an apply of {done[0]:.1f} s ran"
