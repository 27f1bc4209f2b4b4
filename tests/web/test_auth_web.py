"""The dashboard's auth matrix against a real server, on SQLite and PostgreSQL.

Every page and every POST: without a session a page redirects to the login (a fragment
or a POST answers 401); viewers, operators and admins read every page; a POST needs the
session's csrf token and a same-origin Origin/Referer (403 otherwise); the rollout
actions need an operator or admin (403 for a viewer); the what-if runs for a viewer and
writes nothing; a revoked token ends its session; a wrong, expired or agent token gets
the login page with the reason and no cookie.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.server.conftest import ServerProcess

PAGES = ("/ui/", "/ui/sites/fra-1", "/ui/plan", "/ui/plan?explain=chat-eu", "/ui/rollouts", "/ui/events",
         "/ui/audit", "/ui/cost")
ROLES = ("viewer", "operator", "admin")
WAIT = 30.0


def _token(server: ServerProcess, role: str, **kw: object) -> tuple[str, str]:
    body = {"role": role, **kw}
    r = httpx.post(f"{server.url}/api/v1/tokens", json=body, headers={"Authorization": f"Bearer {server.admin_token}"})
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["token"]


def _browser(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=120)


def _login(server: ServerProcess, secret: str) -> tuple[httpx.Client, str]:
    """A client with a session and the session's csrf token (read from the page, as a browser does)."""
    c = _browser(server)
    r = c.post("/ui/login", data={"token": secret, "next": "/ui/plan"}, headers={"Origin": server.url})
    assert r.status_code == 303 and r.headers["location"] == "/ui/plan", r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    page = c.get("/ui/plan")
    assert page.status_code == 200
    m = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert m is not None
    return c, m.group(1)


@pytest.fixture(scope="module")
def sessions(server: ServerProcess) -> Iterator[dict[str, tuple[httpx.Client, str]]]:
    out = {role: _login(server, _token(server, role)[1]) for role in ROLES}
    yield out
    for c, _csrf in out.values():
        c.close()


def test_without_a_session_pages_redirect_to_login_and_posts_are_401(server: ServerProcess) -> None:
    with _browser(server) as c:
        assert c.get("/").status_code == 307 and c.get("/").headers["location"] == "/ui/"
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/ui/login?next=%2Fui%2F"), path
            assert c.get(path, params={"fragment": "1"}).status_code == 401, path
        for path in ("/ui/plan/whatif", "/ui/rollouts/chat-eu/pause", "/ui/logout"):
            r = c.post(path, data={"csrf": "x", "sites": "fra-1"}, headers={"Origin": server.url})
            assert r.status_code == 401, path
        login = c.get("/ui/login")
        assert login.status_code == 200 and 'name="token"' in login.text and "<label for=\"token\">" in login.text
        assert c.get("/ui/static/app.css").status_code == 200  # assets need no session


@pytest.mark.parametrize("role", ROLES)
def test_every_reader_reads_every_page(server: ServerProcess, sessions: dict[str, tuple[httpx.Client, str]],
                                       role: str) -> None:
    c, _csrf = sessions[role]
    for path in PAGES:
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert "Content-Security-Policy" in r.headers and f"· {role}" in r.text, path
        assert c.get(path, params={"fragment": "1"}).status_code == 200, path
    assert "chosen" in c.get("/ui/plan?explain=chat-eu").text
    assert c.get("/ui/sites/no-such-site").status_code == 404


def _counts(server: ServerProcess) -> tuple[object, ...]:
    """What a write would change: the revision, the plan, the audit log and the events."""
    h = {"Authorization": f"Bearer {server.admin_token}"}
    plan = httpx.get(f"{server.url}/api/v1/plan", headers=h).json()
    audit = httpx.get(f"{server.url}/api/v1/audit", params={"limit": 10000}, headers=h).json()
    events = httpx.get(f"{server.url}/api/v1/events", params={"limit": 10000}, headers=h).json()
    return plan["revision"], plan["created_at"], len(audit), len(events)


@pytest.mark.parametrize("role", ROLES)
def test_what_if_runs_for_every_reader_and_writes_nothing(server: ServerProcess,
                                                          sessions: dict[str, tuple[httpx.Client, str]],
                                                          role: str) -> None:
    c, csrf = sessions[role]
    before = _counts(server)
    r = c.post("/ui/plan/whatif", data={"csrf": csrf, "sites": "fra-1"}, headers={"Origin": server.url})
    assert r.status_code == 200 and "What if fra-1 fails" in r.text
    assert "Absorbable" in r.text or "Not absorbable" in r.text
    assert _counts(server) == before
    bad = c.post("/ui/plan/whatif", data={"csrf": csrf, "sites": "nowhere"}, headers={"Origin": server.url})
    assert bad.status_code == 422 and "no site &#39;nowhere&#39;" in bad.text


@pytest.mark.parametrize("role", ROLES)
def test_posts_need_the_csrf_token_and_the_same_origin(server: ServerProcess,
                                                       sessions: dict[str, tuple[httpx.Client, str]],
                                                       role: str) -> None:
    c, csrf = sessions[role]
    for path in ("/ui/plan/whatif", "/ui/rollouts/chat-eu/pause", "/ui/logout"):
        cases = [
            ({"sites": "fra-1"}, {"Origin": server.url}),  # no token
            ({"csrf": csrf[:-2], "sites": "fra-1"}, {"Origin": server.url}),  # a wrong one
            ({"csrf": csrf, "sites": "fra-1"}, {}),  # no Origin, no Referer
            ({"csrf": csrf, "sites": "fra-1"}, {"Origin": "http://evil.example"}),
            ({"csrf": csrf, "sites": "fra-1"}, {"Referer": "http://evil.example/ui/plan"}),
        ]
        for form, headers in cases:
            r = c.post(path, data=form, headers=headers)
            assert r.status_code == 403, (path, form, headers, r.text)
    r = c.post("/ui/plan/whatif", data={"sites": "fra-1"},
               headers={"Referer": f"{server.url}/ui/plan", "X-CSRF-Token": csrf})
    assert r.status_code == 200  # the header from a script and a same-origin Referer do


def test_rollout_actions_need_an_operator(server: ServerProcess,
                                          sessions: dict[str, tuple[httpx.Client, str]]) -> None:
    for role, expected in (("viewer", 403), ("operator", 404), ("admin", 404)):
        c, csrf = sessions[role]
        r = c.post("/ui/rollouts/chat-eu/pause", data={"csrf": csrf}, headers={"Origin": server.url})
        assert r.status_code == expected, (role, r.text)  # 404: allowed, and chat-eu has no rollout
        if expected == 403:
            assert "role operator or admin" in r.json()["detail"]


def test_wrong_expired_and_agent_tokens_get_a_reason_and_no_cookie(server: ServerProcess) -> None:
    _id, expiring = _token(server, "viewer", ttl_hours=1 / 3600)
    _id, agent = _token(server, "agent", site="fra-1")
    deadline = time.monotonic() + WAIT
    while httpx.get(f"{server.url}/api/v1/status", headers={"Authorization": f"Bearer {expiring}"}).status_code != 401:
        assert time.monotonic() < deadline, "the one-second token never expired"
        time.sleep(0.2)
    with _browser(server) as c:
        for secret, why in (("fy_wrong", "unknown token"), (expiring, "expired"), (agent, "has role agent"),
                            ("", "enter a token")):
            r = c.post("/ui/login", data={"token": secret}, headers={"Origin": server.url})
            assert r.status_code == 401 and "set-cookie" not in r.headers, secret
            assert why in r.text and 'role="alert"' in r.text
        r = c.post("/ui/login", data={"token": server.admin_token}, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "set-cookie" not in r.headers


def test_revoking_the_token_or_logging_out_ends_the_session(server: ServerProcess) -> None:
    token_id, secret = _token(server, "viewer")
    c, _csrf = _login(server, secret)
    assert c.get("/ui/").status_code == 200
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    r = httpx.delete(f"{server.url}/api/v1/tokens/{token_id}", headers=admin)
    assert r.status_code == 204
    r = c.get("/ui/")
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    c2, csrf2 = _login(server, _token(server, "operator")[1])
    r = c2.post("/ui/logout", data={"csrf": csrf2}, headers={"Origin": server.url})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert c2.get("/ui/").status_code == 303  # the cookie is cleared, and the row is gone:
    old = r.request.headers["cookie"]
    with _browser(server) as c3:
        assert c3.get("/ui/", headers={"Cookie": old}).status_code == 303
    c.close()
    c2.close()


def test_login_redirects_only_inside_the_dashboard(server: ServerProcess) -> None:
    with _browser(server) as c:
        for target, lands in (("/ui/audit", "/ui/audit"), ("https://evil.example/", "/ui/"), ("//evil", "/ui/")):
            r = c.post("/ui/login", data={"token": server.admin_token, "next": target}, headers={"Origin": server.url})
            assert r.status_code == 303 and r.headers["location"] == lands, target


def test_every_page_answers_before_the_first_apply(server_factory: Callable[..., ServerProcess]) -> None:
    empty = server_factory(name="empty")
    c, csrf = _login(empty, empty.admin_token)
    for path in PAGES:
        r = c.get(path)
        expected = 404 if path.startswith(("/ui/sites/", "/ui/plan?explain")) else 200
        assert r.status_code == expected, (path, r.text[:300])
    assert "No plan yet" in c.get("/ui/").text and "No plan yet" in c.get("/ui/plan").text
    r = c.post("/ui/plan/whatif", data={"csrf": csrf, "sites": "fra-1"}, headers={"Origin": empty.url})
    assert r.status_code == 422 and "No plan yet" in r.text
    c.close()
