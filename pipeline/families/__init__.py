"""The registry of model families: adding one is a module and a line here.

Each entry names the module whose Family subclass has that `name`; modules are imported only
when a family is used, so that listing families never imports Keras or statsmodels. `create` is
where the Settings meet a family: it hands over the Problem and the family's own hyper-parameters.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

from pipeline.config import TRAINING_STAGES, Problem, Settings
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
    """Family `name` (a registered name or "module:Class") for `settings`: its Problem and its
    own hyper-parameters (hyper). Raises KeyError for an unknown name."""
    return build(family_class(name), settings)


def build(cls: type[Family], settings: Settings) -> Family:
    """An instance of family class `cls` for `settings` (see create)."""
    return cls(settings.problem, hyper(cls, settings))


def hyper(cls: type[Family], settings: Settings) -> Any:
    """`cls.Hyper` with each field from the Settings field of its name (or the one its metadata
    names), and a `members()` field as the members' own hyper-parameters."""
    values = {}
    for f in dataclasses.fields(cls.Hyper):
        if f.metadata.get("members"):
            values[f.name] = {name: hyper(family_class(name), settings) for name in cls.member_names()}
        else:
            values[f.name] = getattr(settings, f.metadata.get("setting", f.name))
    return cls.Hyper(**values)


def _hyper_from_dict(cls: type[Family], values: dict[str, Any]) -> Any:
    """`cls.Hyper` from a saved description's values: a field saved by an older version and gone
    since is dropped, a field added since takes the default Settings' value (as Settings.from_dict)."""
    own = {f.name: f for f in dataclasses.fields(cls.Hyper)}
    saved = {k: v for k, v in values.items() if k in own}
    for name, f in own.items():
        if f.metadata.get("members") and name in saved:
            saved[name] = {member: _hyper_from_dict(family_class(member), v) for member, v in saved[name].items()}
        elif isinstance(saved.get(name), list):
            saved[name] = tuple(saved[name])
    missing = set(own) - set(saved)
    defaults = hyper(cls, Settings()) if missing else None
    return cls.Hyper(**saved, **{name: getattr(defaults, name) for name in missing})


def load(directory: Path) -> Family:
    """Re-create a family saved by Family.save, ready to forecast. A family saved before families
    had their own hyper-parameters (its description holds the Settings) is created from those."""
    description = describe_saved(directory)
    cls = family_class(description["class"])
    if "problem" in description:
        problem, own = Problem.from_dict(description["problem"]), _hyper_from_dict(cls, description["hyper"])
    else:
        settings = Settings.from_dict(description["settings"])
        problem, own = settings.problem, hyper(cls, settings)
    family = cls.restore(problem, own, description["params"])
    family._load_state(Path(directory))
    family.intervals = description.get("intervals", {})
    return family
