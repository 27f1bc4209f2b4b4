"""The dashboard in a real browser: Debian's chromium driven by Playwright, against a real
server with real agents (three sites of the demo fleet, a 1 s heartbeat).

One fleet for the module. A person logs in through the form, opens every page and sees
the site names, the map, the plan, explain verdicts, a what-if result, audit rows and
charts with data points; a site turns red (down) after its agent is killed, on the open
fleet page, without a reload; the phone width renders without sideways scrolling; and
no page logs a console error. A screenshot of each page goes to tests/web/artifacts/
(and, with FLEETYARD_README_SHOT=1, the fleet page to docs/img/dashboard-fleet.png for the README).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetyard.agent.demofleet import DEMO_FLEET
from fleetyard.agent.localfleet import LocalFleet, write_model

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not "
                                "installed: apt-get install chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard-fleet.png"
SITES = ("fra-1", "fra-2", "par-1")  # par-2 never reports: its agent is not started
WAIT = 90.0  # bounded waits; the machine is shared, the assertions are on state
WAIT_MS = int(WAIT * 1000)

if CHROMIUM.exists():
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    root = tmp_path_factory.mktemp("web-fleet")
    (root / "spec").mkdir()
    (root / "spec" / "fleet.yaml").write_text(DEMO_FLEET, encoding="utf-8")
    with LocalFleet(root, heartbeat=1.0) as f:
        f.start_server(env={"FLEETYARD_FAILOVER_GRACE": "5", "FLEETYARD_TICK_INTERVAL": "0.5"})
        f.push(write_model(root / "models" / "v1", version=1), "demo-llm", "1", alias="prod")
        f.apply(root / "spec")
        for site in SITES:
            f.start_agent(site, extra=["--relay-wait", "2"])
        f.wait_for(f.running(["fra-1", "par-1"], "demo-llm:1"), "demo-llm:1 running at fra-1 and par-1", WAIT)
        yield f


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


class Person:
    """A browser tab logged in to the dashboard, collecting console errors."""

    def __init__(self, browser: Browser, fleet: LocalFleet, width: int = 1280, height: int = 900) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.url = fleet.url

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(f"{self.page.url}: {msg.text}")

    def log_in(self, token: str) -> None:
        self.page.goto(f"{self.url}/ui/")
        expect(self.page.get_by_role("heading", name="Log in")).to_be_visible()
        self.page.get_by_label("Token").fill(token)
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page.get_by_role("heading", name="Fleet", exact=True)).to_be_visible()

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="module")
def person(browser: Browser, fleet: LocalFleet) -> Iterator[Person]:
    p = Person(browser, fleet)
    p.log_in(fleet.admin)
    yield p
    p.context.close()


def _eventually(check: Callable[[], bool], what: str, reload: Page | None = None) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
        if reload is not None:
            reload.reload()


def test_a_wrong_token_gets_a_clear_message(browser: Browser, fleet: LocalFleet) -> None:
    p = Person(browser, fleet)
    p.page.goto(f"{fleet.url}/ui/login")
    p.page.get_by_label("Token").fill("fy_not-a-real-token")
    p.page.get_by_role("button", name="Log in").click()
    expect(p.page.get_by_role("alert")).to_contain_text("unknown token")
    assert p.context.cookies() == []
    p.shot("login-refused")
    assert p.errors == [e for e in p.errors if "401" in e]  # the refused login answers 401, nothing else
    p.context.close()


def test_fleet_page_shows_sites_map_and_totals(person: Person) -> None:
    page = person.page
    page.goto(f"{person.url}/ui/")
    for site in ("fra-1", "fra-2", "par-1", "par-2"):
        expect(page.get_by_role("link", name=site, exact=True).first).to_be_visible()
    expect(page.locator("svg.fleet-map g.site")).to_have_count(4)
    expect(page.locator("svg.fleet-map g.region")).to_have_count(2)
    expect(page.locator("tr[data-site='fra-1'][data-state='ok']")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("svg.fleet-map g[data-site='fra-1'][data-state='ok']")).to_have_count(1)
    expect(page.locator("#total-cost")).to_contain_text("$")
    expect(page.locator("#total-power")).to_contain_text("kW")
    expect(page.locator("#total-carbon")).to_contain_text("kg CO2/h")
    shot = person.shot("fleet")
    if os.environ.get("FLEETYARD_README_SHOT") == "1" or not README_SHOT.exists():  # a tracked file: on request
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SHOT)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # from the skip target into the content, past the nav
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")


def test_site_page_shows_models_replicas_and_a_chart_with_points(person: Person) -> None:
    page = person.page
    page.goto(f"{person.url}/ui/sites/fra-1")
    expect(page.get_by_role("heading", name="Site fra-1")).to_be_visible()
    expect(page.locator("table.models")).to_contain_text("demo-llm:1")
    expect(page.locator("table.workloads")).to_contain_text("demo-chat")
    expect(page.locator("svg.line-chart")).to_have_count(4)
    it_kw = page.locator("svg[aria-label='fra-1: IT power (kW) against capacity, last 6 h'] path[data-points]")
    _eventually(lambda: it_kw.count() >= 1 and int(it_kw.first.get_attribute("data-points") or 0) >= 2,
                "fra-1's IT power samples in its chart (agent -> heartbeat -> history)", reload=page)
    booked = page.locator("svg[aria-label='fra-1: GPU-hours booked per hour (last 48 h)'] path[data-points]")
    _eventually(lambda: booked.count() == 1 and int(booked.get_attribute("data-points") or 0) >= 1,
                "fra-1's booked GPU-hours in its chart", reload=page)
    assert page.locator("svg[aria-label^='fra-1: GPU-hours'] circle").count() >= 1
    person.shot("site")


def test_plan_page_explains_and_runs_a_what_if(person: Person, fleet: LocalFleet) -> None:
    page = person.page
    page.goto(f"{person.url}/ui/plan")
    expect(page.locator("table.assignments")).to_contain_text("demo-chat")
    expect(page.locator("table.resilience")).to_contain_text("fra-1")
    page.get_by_label("Workload").select_option("demo-chat")
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("table.verdicts tr[data-verdict='chosen']").first).to_be_visible(timeout=WAIT_MS)
    assert page.locator("table.verdicts tbody tr").count() >= 3  # a verdict for every site it may run on
    person.shot("plan-explain")
    revision = fleet.status().revision
    page.get_by_label("Sites that fail").select_option("fra-1")
    page.get_by_role("button", name="Run what-if").click()
    result = page.locator("section.what-if-result")
    expect(result).to_contain_text("What if fra-1 fails", timeout=WAIT_MS)
    expect(result.locator(".verdict-line")).to_contain_text("bsorbable")
    assert fleet.status().revision == revision  # computed only
    person.shot("plan-whatif")


def test_rollouts_events_audit_and_cost_pages(person: Person) -> None:
    page = person.page
    page.goto(f"{person.url}/ui/rollouts")
    expect(page.get_by_role("heading", name="Rollouts")).to_be_visible()
    person.shot("rollouts")
    page.goto(f"{person.url}/ui/events")
    expect(page.get_by_role("heading", name="Events")).to_be_visible()
    expect(page.locator("table.events tbody tr").first).to_be_visible()
    person.shot("events")
    page.goto(f"{person.url}/ui/audit")
    expect(page.locator("table.audit tr[data-action='apply']").first).to_contain_text("admin")
    expect(page.locator("table.audit tr[data-action='token.create']").first).to_be_visible()
    person.shot("audit")
    page.goto(f"{person.url}/ui/cost")
    bars = page.locator("svg[aria-label='Cost by team'] g.bar")
    _eventually(lambda: bars.count() >= 1, "a team's cost bar", reload=page)
    expect(bars.first).to_contain_text("demo")
    expect(page.locator("svg[aria-label='Cost by site'] g.bar").first).to_be_visible()
    expect(page.locator("svg[aria-label='Cost by workload'] g.bar").first).to_be_visible()
    over_time = page.locator("svg[aria-label='Cost per hour by site (last 48 h)'] path[data-points]")
    sites = page.locator("svg[aria-label='Cost by site'] g.bar").count()
    assert over_time.count() == sites >= 1  # a line per site that booked usage, each with its hours
    assert all(int(over_time.nth(i).get_attribute("data-points") or 0) >= 1 for i in range(sites))
    person.shot("cost")


def test_a_killed_site_turns_red_without_a_reload(person: Person, fleet: LocalFleet) -> None:
    page = person.page
    page.goto(f"{person.url}/ui/")
    expect(page.locator("tr[data-site='fra-2'][data-state='ok']")).to_be_visible(timeout=WAIT_MS)
    page.evaluate("window.stillThisPage = true")
    fleet.kill_agent("fra-2")
    expect(page.locator("tr[data-site='fra-2'][data-state='down']")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("svg.fleet-map g[data-site='fra-2'][data-state='down'] circle")).to_have_attribute(
        "fill", "#dc2626")
    assert page.evaluate("window.stillThisPage") is True  # swapped in by app.js, not reloaded
    person.shot("fleet-site-down")


def test_a_viewer_reads_and_runs_a_what_if_but_gets_no_write_buttons(browser: Browser, fleet: LocalFleet) -> None:
    p = Person(browser, fleet)
    p.log_in(fleet.client.create_token("viewer", description="web test viewer").token)
    expect(p.page.locator(".who")).to_contain_text("viewer")
    p.page.goto(f"{fleet.url}/ui/rollouts")
    expect(p.page.locator("section.rollout[data-workload='demo-chat']")).to_contain_text("demo-llm:1")
    # no pause, resume, promote or abort (these rollouts are done; tests/web/test_templates.py shows an
    # operator's buttons on a live one, and test_auth_web.py a viewer's forged POST refused)
    assert p.page.locator("main form").count() == 0
    p.page.goto(f"{fleet.url}/ui/plan")
    p.page.get_by_label("Sites that fail").select_option("par-1")
    p.page.get_by_role("button", name="Run what-if").click()
    expect(p.page.locator("section.what-if-result")).to_contain_text("What if par-1 fails", timeout=WAIT_MS)
    p.shot("viewer-whatif")
    assert p.errors == []
    p.context.close()


def test_phone_width_renders_without_sideways_scrolling(browser: Browser, fleet: LocalFleet) -> None:
    p = Person(browser, fleet, width=390, height=844)
    p.log_in(fleet.admin)
    for path, name in (("/ui/", "phone-fleet"), ("/ui/sites/fra-1", "phone-site"), ("/ui/plan", "phone-plan"),
                       ("/ui/cost", "phone-cost")):
        p.page.goto(f"{fleet.url}{path}")
        wide = p.page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390 + 1, f"{path} is {wide} px wide at a 390 px viewport"
        expect(p.page.get_by_role("navigation", name="Pages")).to_be_visible()
        p.shot(name)
    assert p.errors == []
    p.context.close()


def test_no_console_errors(person: Person) -> None:
    """Last in the module: every page the person opened above logged no error."""
    assert person.errors == []
