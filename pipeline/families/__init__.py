"""The registry of model families: adding one is a module and a line here.

Each entry names the module whose Family subclass has that `name`; modules are imported only
when a family is used, so that listing families never imports Keras or statsmodels.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from pipeline.config import TRAINING_STAGES, Settings
from pipeline.families.base import Family, describe_saved

FAMILIES: dict[str, str] = {
    "naive": "pipeline.families.naive",
    "sarima": "pipeline.families.sarima",
    "linear": "pipeline.families.linear",
    "simple_rnn_1": "pipeline.families.simple_rnn",
    "simple_rnn": "pipeline.families.simple_rnn",
    "deep_rnn": "pipeline.families.simple_rnn",
    "multivariate_rnn": "pipeline.families.multivariate_rnn",
    "multitask_rnn": "pipeline.families.multivariate_rnn",
    "ahead_rnn": "pipeline.families.ahead_rnn",
    "seq2seq_rnn": "pipeline.families.seq2seq",
    "ln_rnn": "pipeline.families.seq2seq",
    "lstm": "pipeline.families.seq2seq",
    "gru": "pipeline.families.seq2seq",
    "conv_gru": "pipeline.families.seq2seq",
    "wavenet": "pipeline.families.wavenet",
    "wavenet_gated": "pipeline.families.wavenet",
    # beyond the chapter
    "ahead_rnn_calendar": "pipeline.families.ahead_rnn",
    "gru_calendar": "pipeline.families.seq2seq",
    "multivariate_robust": "pipeline.families.multivariate_rnn",
    "multivariate_ensemble": "pipeline.families.ensemble",
    "robust_ensemble": "pipeline.families.ensemble",
    "lightgbm": "pipeline.families.boosting",
}


def family_class(name: str) -> type[Family]:
    """A registered family by name, or any Family subclass by import path "module:Class".
    Raises KeyError for an unknown name."""
    if ":" in name:
        module, cls = name.split(":")
        return getattr(importlib.import_module(module), cls)
    if name not in FAMILIES:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)} "
                       "(or give an import path module:Class)")
    module = importlib.import_module(FAMILIES[name])
    found = [c for c in vars(module).values()
             if isinstance(c, type) and issubclass(c, Family) and c.__module__ == module.__name__
             and c.__dict__.get("name") == name]
    if len(found) != 1:
        raise KeyError(f"module {FAMILIES[name]} defines {len(found)} families named {name!r}, not one")
    return found[0]


def training_stages(settings: Settings) -> list[list[str]]:
    """`settings.families` in len(TRAINING_STAGES) stages (some may be empty): each family in the
    stage after the last of its members (Family.builds_on) that the run also trains, so that it can
    adopt them. Raises ValueError for members that build on each other in a cycle or too deeply."""
    names = list(settings.families)
    members = {name: {m for m, _ in create(name, settings).builds_on()} & set(names) for name in names}
    depth: dict[str, int] = {}

    def stage(name: str, path: tuple[str, ...] = ()) -> int:
        if name in path:
            raise ValueError(f"families build on each other in a cycle: {' -> '.join(path + (name,))}")
        if name not in depth:
            depth[name] = 1 + max((stage(m, path + (name,)) for m in members[name]), default=-1)
        return depth[name]

    stages: list[list[str]] = [[] for _ in TRAINING_STAGES]
    for name in names:
        if stage(name) >= len(TRAINING_STAGES):
            raise ValueError(f"{name} is {stage(name) + 1} stages deep in its members; "
                             f"at most {len(TRAINING_STAGES)}")
        stages[stage(name)].append(name)
    return stages


def create(name: str, settings: Settings) -> Family:
    return family_class(name)(settings)


def load(directory: Path) -> Family:
    """Re-create a family saved by Family.save, ready to forecast."""
    description = describe_saved(directory)
    settings = Settings.from_dict(description["settings"])
    family = family_class(description["class"]).restore(settings, description["params"])
    family._load_state(Path(directory))
    family.intervals = description.get("intervals", {})
    return family
