"""The layers of pyproject.toml's [tool.importlinter], checked by import-linter on every `make test`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pipeline.config import PROJECT_ROOT

LINT = str(Path(sys.executable).with_name("lint-imports"))


def lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--no-cache", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)


def test_the_declared_layers_hold():
    done = lint()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in done.stdout


def test_a_broken_layer_is_reported(tmp_path):
    """The same tool on a contract the code does not keep: the steps do import the registry."""
    config = tmp_path / "pyproject.toml"
    shutil.copy(PROJECT_ROOT / "pyproject.toml", config)
    config.write_text(config.read_text() + '''
[[tool.importlinter.contracts]]
name = "steps without the registry"
type = "forbidden"
source_modules = ["pipeline.steps"]
forbidden_modules = ["pipeline.registry"]
''')
    done = lint("--config", str(config))
    assert done.returncode == 1 and "steps without the registry BROKEN" in done.stdout, done.stdout[-3000:]
    assert "pipeline.steps -> pipeline.registry" in done.stdout
