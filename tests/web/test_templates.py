"""The page templates: names people typed render as text; viewers see no write buttons."""

from __future__ import annotations

from datetime import UTC, datetime

from fleetyard.server.web.data import FleetView, SiteRow, Use
from fleetyard.server.web.fleetmap import MapPoint, fleet_map
from fleetyard.server.web.render import render
from fleetyard.services.identity import Principal
from fleetyard.services.web_sessions import WebSession
from fleetyard.services.wire import Replicas, RolloutOut, RolloutWaveOut, SiteStatus

EVIL = '<script>alert("x")</script>'
AT = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def _web(role: str) -> WebSession:
    return WebSession(Principal("tok_1", role), "csrf-token-value", AT)  # type: ignore[arg-type]


def test_a_site_named_like_a_script_renders_as_text() -> None:
    status = SiteStatus(site=EVIL, last_heartbeat=None, models=[], replicas=Replicas(), stale=True)
    row = SiteRow(EVIL, "stale", status, Use(1, 4), Use(0.5, 2), Use(0.5, 2))
    view = FleetView([row], [MapPoint(EVIL, 50, 8, "site", "stale", f"/ui/sites/{EVIL}")], None, 3,
                     counts={"ok": 0, "stale": 1, "down": 0})
    html = render("fleet.html", _web("viewer"), title=EVIL, view=view, map=fleet_map(view.points))
    assert EVIL not in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert html.count('<script src="/ui/static/app.js" defer></script>') == 1  # the only script


def _rollout() -> RolloutOut:
    return RolloutOut(workload=EVIL, to="chat:2", state="progressing", reason="wave 0 bakes",
                      waves=[RolloutWaveOut(index=0, sites=["fra-1"], state="baking", reason="bake 2 s left")])


def test_viewers_get_no_write_buttons_operators_do() -> None:
    actions = {"progressing": ("pause", "abort")}
    viewer = render("rollouts.html", _web("viewer"), title="Rollouts", rollouts=[_rollout()], actions=actions)
    operator = render("rollouts.html", _web("operator"), title="Rollouts", rollouts=[_rollout()], actions=actions)
    done = render("rollouts.html", _web("admin"), title="Rollouts", actions=actions,
                  rollouts=[_rollout().model_copy(update={"state": "succeeded"})])
    assert "wave 0 bakes" in viewer and "bake 2 s left" in viewer
    assert "/pause" not in viewer and ">Pause</button>" not in viewer
    assert ">Pause</button>" in operator and ">Abort</button>" in operator
    assert "/ui/rollouts/%3Cscript%3Ealert%28%22x%22%29%3C/script%3E/pause" in operator
    assert operator.count('name="csrf" value="csrf-token-value"') == 3  # two actions and the logout form
    assert EVIL not in operator
    assert "<button type=\"submit\">Pause" not in done  # a finished rollout offers nothing to press


def test_a_fragment_is_the_main_content_only() -> None:
    html = render("audit.html", _web("viewer"), fragment=True, title="Audit", entries=[])
    assert "<h1>Audit</h1>" in html and "<html" not in html and "<nav" not in html
