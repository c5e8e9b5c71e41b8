"""The portal's apps depend in one declared order (pyproject.toml, [tool.importlinter]): every app is in the
contract, none hides an import inside a function, and each routes its own pages."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from django.conf import settings

import aifactory.portal

PORTAL = Path(aifactory.portal.__file__).parent
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _portal_layers() -> list[str]:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    (portal,) = [c for c in contracts if c["name"].startswith("portal apps")]
    return [name.strip("()") for name in portal["layers"]]


def _apps() -> list[str]:
    return [a for a in settings.INSTALLED_APPS if a.startswith("aifactory.portal.")]


def test_every_installed_app_has_its_place_in_the_declared_order():
    layers = _portal_layers()
    missing = [a for a in _apps() if a not in layers]
    assert not missing, f"add {missing} to the portal's layers in pyproject.toml (see docs/architecture.md)"
    assert layers[-1] == "aifactory.portal.common"
    assert layers[0] == "aifactory.portal.pages"


def test_the_order_is_the_domains():
    order = [name.rsplit(".", 1)[1] for name in _portal_layers()][::-1]
    known = ["common", "organisations", "federation", "allocations", "access", "review", "jobs"]
    assert [a for a in order if a in known] == known


def _function_level_imports(path: Path, root: Path = PORTAL) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                module = inner.module if isinstance(inner, ast.ImportFrom) else None
                names = [a.name for a in inner.names] if isinstance(inner, ast.Import) else [module or ""]
                if any(n.startswith("aifactory") for n in names):
                    found.append(f"{path.relative_to(root)}:{inner.lineno}")
    return found


def test_no_app_imports_inside_a_function():
    found = []
    for app in _apps():
        for path in (PORTAL / app.rsplit(".", 1)[1]).rglob("*.py"):
            if "migrations" not in path.parts:
                found += _function_level_imports(path)
    assert not found, f"imports inside functions (they hide a dependency): {found}"


def test_the_checker_sees_a_hidden_import(tmp_path):
    hidden = tmp_path / "mod.py"
    hidden.write_text("def f():\n    from aifactory.portal.jobs import models\n    return models\n")
    assert _function_level_imports(hidden, root=tmp_path) == ["mod.py:2"]


def test_the_tests_mirror_the_apps():
    tests = Path(__file__).parent
    for app in _apps():
        name = app.rsplit(".", 1)[1]
        assert (tests / name / "__init__.py").exists(), f"tests/portal/{name}/ is missing: tests mirror the apps"


def test_every_app_routes_its_own_pages():
    for app in [*_apps(), "aifactory.portal.pages"]:
        assert (PORTAL / app.rsplit(".", 1)[1] / "urls.py").exists(), f"{app} has no urls.py"
