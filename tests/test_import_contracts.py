"""importlinter.ini is the first boundary: green on the tree, red on a cross-domain model import, and it
lists every internal module of every domain (a new module cannot slip past the contract)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dsta.domains import DOMAINS

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = {"api", "contracts", "events", "apps", "__init__"}
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_lint_imports(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(tree / "importlinter.ini")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory):
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "dsta", tree / "dsta", ignore=shutil.ignore_patterns("__pycache__", "demo"))
    shutil.copy(ROOT / "importlinter.ini", tree / "importlinter.ini")
    return tree


def test_contracts_are_kept_by_the_tree(tree_copy):
    result = run_lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("importer", "statement", "expected"),
    [
        ("trading/services.py", "from dsta.data.models import Candle", "dsta.data.models"),
        ("ml/api.py", "from dsta.core import selectors", "dsta.core.selectors"),
        ("core/api.py", "from dsta.trading import api", "dsta.core is not allowed to import dsta.trading"),
        ("kernel/clock.py", "import dsta.data.api", "dsta.kernel is not allowed to import dsta.data"),
        ("ml/api.py", "from dsta.trading import contracts", "dsta.ml is not allowed to import dsta.trading"),
        # The web app sits above every domain and reads them through their facades only.
        ("web/views.py", "from dsta.trading.models import Position", "dsta.trading.models"),
        ("trading/api.py", "from dsta.web import views", "dsta.trading is not allowed to import dsta.web"),
        # The event contracts sit below every domain and import the kernel only.
        ("events/trading.py", "from dsta.trading import api", "dsta.events is not allowed to import dsta.trading"),
        ("events/core.py", "from dsta import domains", "dsta.events.core -> dsta.domains"),
        ("kernel/handlers.py", "from dsta.events import core", "dsta.kernel is not allowed to import dsta.events"),
    ],
)
def test_a_boundary_violation_turns_the_build_red(tree_copy, importer, statement, expected):
    target = tree_copy / "dsta" / importer
    original = target.read_text()
    try:
        target.write_text(original + f"\n{statement}  # deliberate violation\n")
        result = run_lint_imports(tree_copy)
    finally:
        target.write_text(original)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert expected in result.stdout


def test_every_internal_module_of_every_domain_is_protected():
    config = configparser.ConfigParser()
    config.read(ROOT / "importlinter.ini")
    for domain in DOMAINS:
        package = ROOT / "dsta" / domain.name
        internal = {
            path.stem if path.is_file() else path.name
            for path in package.iterdir()
            if (path.suffix == ".py" or (path / "__init__.py").exists())
        } - PUBLIC_MODULES
        listed = config[f"importlinter:contract:{domain.name}-internals"]["protected_modules"].split()
        assert sorted(listed) == sorted(f"dsta.{domain.name}.{name}" for name in internal)


def test_the_event_contracts_may_import_nothing_of_dsta_but_the_kernel():
    config = configparser.ConfigParser()
    config.read(ROOT / "importlinter.ini")
    siblings = {
        f"dsta.{path.stem if path.is_file() else path.name}"
        for path in (ROOT / "dsta").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    forbidden = config["importlinter:contract:events-neutral"]["forbidden_modules"].split()
    assert sorted(forbidden) == sorted(siblings - {"dsta.events", "dsta.kernel"})
