"""The dashboard package's place: it translates HTTP to services, never reaches into the CLI,
and every template and asset it serves is in the package data (an installed wheel has them)."""

from __future__ import annotations

import ast
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "fleetyard" / "server" / "web"


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_the_dashboard_never_imports_the_cli_or_the_agent() -> None:
    bad = [f"{p.name} imports {m}" for p in sorted(WEB.glob("*.py")) for m in _imports(p)
           if m.startswith(("fleetyard.cli", "fleetyard.agent"))]
    assert bad == []


def test_every_template_and_asset_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["fleetyard"]
    files = [p.relative_to(ROOT / "src" / "fleetyard").as_posix()
             for folder in ("templates", "static") for p in (WEB / folder).rglob("*") if p.is_file()]
    assert len(files) >= 12
    missing = [f for f in files if not any(fnmatch(f, g) for g in globs)]
    assert missing == []
