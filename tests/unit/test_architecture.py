"""The layers of pyproject.toml's [tool.importlinter], checked by import-linter on every `make test`."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT

LINT = str(Path(sys.executable).with_name("lint-imports"))


def lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--no-cache", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)


def test_the_declared_layers_hold():
    done = lint()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken." in done.stdout


def test_a_broken_layer_is_reported(tmp_path):
    """The same tool on a contract the code does not keep: the steps do import the registry."""
    config = tmp_path / "pyproject.toml"
    shutil.copy(PROJECT_ROOT / "pyproject.toml", config)
    config.write_text(config.read_text() + '''
[[tool.importlinter.contracts]]
name = "steps without the registry"
type = "forbidden"
source_modules = ["pipeline.nightly.steps"]
forbidden_modules = ["pipeline.lifecycle.registry"]
''')
    done = lint("--config", str(config))
    assert done.returncode == 1 and "steps without the registry BROKEN" in done.stdout, done.stdout[-3000:]
    assert "pipeline.nightly.steps -> pipeline.lifecycle.registry" in done.stdout


# What a DAG file or a plugin may import from the library: the steps and their result types, a task's
# entry point, the settings.
ORCHESTRATION_MAY_IMPORT = {"pipeline.nightly.steps", "pipeline.nightly.results", "pipeline.entry.orchestration",
                            "pipeline.config"}


def library_imports(path: Path) -> set[str]:
    """The pipeline modules a file imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline"):
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in ORCHESTRATION_MAY_IMPORT
                      else node.module for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pipeline")}
    return found


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "dags").glob("*.py")) + sorted((PROJECT_ROOT / "plugins").glob("*.py")),
                         ids=lambda p: p.name)
def test_dags_and_plugins_only_call_the_steps(path):
    assert library_imports(path) <= ORCHESTRATION_MAY_IMPORT


def test_a_dag_reaching_past_the_steps_is_caught(tmp_path):
    dag = tmp_path / "dag.py"
    dag.write_text("def task():\n    from pipeline.lifecycle import registry\n    from pipeline.nightly import steps\n")
    assert library_imports(dag) - ORCHESTRATION_MAY_IMPORT == {"pipeline.lifecycle"}


def test_a_module_path_that_logged_models_name_still_imports_as_its_new_module():
    import importlib

    import pipeline
    from pipeline.lifecycle import logged_models

    for old, new in pipeline.MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new)
    from pipeline.serving import RidershipForecaster  # what every logged model's code runs

    assert RidershipForecaster is logged_models.RidershipForecaster
