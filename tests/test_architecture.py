"""House rules that keep the package shaped as DESIGN.md draws it.

Imports flow one way: spec <- engines (placement, registry, ...) <- services <- cli,
server, agent. Engines never import web, database, HTTP-client or CLI libraries.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fleetyard"
ENGINES = ("spec", "placement", "registry", "replication", "rollout", "energy", "sim", "export")
FORBIDDEN_IN_ENGINES = ("fastapi", "sqlalchemy", "httpx", "typer", "uvicorn", "rich",
                        "fleetyard.cli", "fleetyard.server", "fleetyard.agent", "fleetyard.services")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _modules(package: str) -> list[Path]:
    root = SRC / package
    return sorted(root.rglob("*.py")) if root.exists() else []


@pytest.mark.parametrize("package", [p for p in ENGINES if (SRC / p).exists()])
def test_engines_do_not_import_upward(package: str) -> None:
    offenders = []
    for path in _modules(package):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IN_ENGINES):
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []


def test_spec_imports_no_engine() -> None:
    engines = [f"fleetyard.{p}" for p in ENGINES if p != "spec"]
    offenders = [f"{path.relative_to(SRC)} imports {name}"
                 for path in _modules("spec") for name in _imports(path)
                 if any(name == e or name.startswith(e + ".") for e in engines)]
    assert offenders == []


def test_public_api_is_exported() -> None:
    import fleetyard.placement as placement
    import fleetyard.spec as spec

    for module in (spec, placement):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} is in __all__ but missing"


def test_modules_stay_small() -> None:
    big = [f"{p.relative_to(SRC)}: {n} lines" for p in SRC.rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600]
    assert big == []
