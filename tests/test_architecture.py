"""The layers import only what the README's Architecture section allows them to."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "facesift"

# Each layer and the facesift layers it must not import.
FORBIDDEN = {
    "media": {"vision", "match", "store", "execution", "workflows", "reports", "cli", "web"},
    "vision": {"match", "store", "execution", "workflows", "reports", "cli", "web"},
    "match": {"store", "execution", "workflows", "reports", "cli", "web"},
    "execution": {"match", "store", "workflows", "reports", "cli", "web"},
    "store": {"execution", "workflows", "reports", "cli", "web"},
    "workflows": {"reports", "cli", "web"},
    "reports": {"store", "cli", "web"},
}
# Third-party packages only one layer may use.
OWNED = {"sqlalchemy": "store", "alembic": "store"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_respect_the_layers(path: Path) -> None:
    layer = _layer(path)
    broken = []
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "facesift" and len(parts) > 1 and parts[1] in FORBIDDEN.get(layer, ()):
            broken.append(name)
        if OWNED.get(parts[0], layer) != layer:
            broken.append(name)
    assert not broken, f"{layer}/ must not import {sorted(broken)}"


def test_the_rules_see_every_layer() -> None:
    """A new top-level package gets a rule (or is deliberately free of one)."""
    layers = {_layer(p) for p in MODULES if p.parent != PACKAGE}
    assert layers <= set(FORBIDDEN) | {"web"}, layers - set(FORBIDDEN)
