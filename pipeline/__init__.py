"""ridership: forecast CTA daily ridership, retrained every night.

The packages, top to bottom; a package imports only those below it (pyproject.toml's
[tool.importlinter] layers, checked on every `make test`):

- entry: the entry points (the CLI, a DAG task's start) and the process-wide setup they do.
- nightly: the nightly steps the DAGs, the CLI and the benchmarks call; forecasting, monitoring, reports.
- lifecycle: MLflow: runs and their tags, models logged as code, the registry's gate and champion.
- modelling: training a family (engine), scoring, backtests, selection, intervals, warm starts.
- families: the model families behind one small protocol (families.base.Family).
- inputs: the data source, its validation, the transit calendar and the windows made from the data.
- io: artifacts by URI (local or object storage), SQL engines, the forecast database, the champion history.
- config and errors (top level): the typed settings and the errors every layer may raise.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# Old module path -> new one, for the modules that something persisted names: every logged model
# runs code (MLflow's models from code) that imports the module of its pyfunc under the name it had
# then: pipeline.serving before the packages existed, pipeline.lifecycle.serving until it was named
# for what it does.
MOVED = {"pipeline.serving": "pipeline.lifecycle.logged_models",
         "pipeline.lifecycle.serving": "pipeline.lifecycle.logged_models"}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path as the module it moved to (the same module object)."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        pass


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
