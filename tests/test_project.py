"""Project-level facts: the public API, the conda file agrees with pyproject, CI calls make test."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from conftest import ROOT

import margin_kit as mk


def test_public_api_names_exist() -> None:
    for name in mk.__all__:
        assert getattr(mk, name) is not None, name
    for name in ("liquidation_price", "bankruptcy_price", "Position", "Account", "TierTable"):
        assert name in mk.__all__
        assert getattr(mk, name).__doc__
    assert callable(mk.exchanges.get)
    assert mk.symbolic.derive("liquidation").result is not None


CORE = (
    "_errors", "_validate", "tiers", "contracts", "liquidation", "account", "prices", "risk",
    "compare", "sizing", "engine", "scenario",
)  # fmt: skip
FRONT_ENDS = ("altair", "ipywidgets", "anywidget", "nbconvert", "nbclient", "jinja2", "vl_convert")


def test_numeric_core_does_not_import_sympy_or_plotting() -> None:
    modules = ", ".join(f"margin_kit.{m}" for m in CORE)
    code = (
        f"import sys, margin_kit, margin_kit.exchanges, margin_kit.cli, {modules}; "
        f"bad = [m for m in {('sympy', *FRONT_ENDS)!r} if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dependencies_point_one_way() -> None:
    """The core never imports the front ends (charts, widgets, report, cli), even lazily."""
    import ast

    front = {"charts", "widgets", "report", "cli"}
    for name in CORE:
        tree = ast.parse((ROOT / "margin_kit" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                names = {a.name for a in node.names}
                hit = (parts[0] == "margin_kit" and (set(parts[1:2]) | names) & front) or (
                    parts[0] in FRONT_ENDS
                )
            elif isinstance(node, ast.Import):
                hit = any(
                    a.name.split(".")[0] in FRONT_ENDS or bool(set(a.name.split(".")[1:2]) & front)
                    for a in node.names
                )
            else:
                continue
            assert not hit, f"margin_kit/{name}.py imports {ast.unparse(node)}"


def test_environment_yml_installs_the_project_and_matches_pyproject() -> None:
    env = (ROOT / "environment.yml").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert '-e ".[dev]"' in env
    floor = project["requires-python"].removeprefix(">=")
    assert re.search(rf"python>={re.escape(floor)}", env)
    for dep in project["dependencies"]:
        assert f"- {dep}" in env, dep


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme.split("\n## ")[0]
    assert "make demo" in readme.split("\n## ")[0]


def test_readme_examples_run() -> None:
    import doctest

    result = doctest.testfile(
        str(ROOT / "README.md"),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
    )
    assert result.attempted >= 8
    assert result.failed == 0


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    modules = [
        "tiers", "contracts", "liquidation", "account", "exchanges", "symbolic",
        "prices", "risk", "compare", "sizing", "engine",
    ]  # fmt: skip
    attempted = 0
    for name in modules:
        module = importlib.import_module(f"margin_kit.{name}")
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted >= 20
