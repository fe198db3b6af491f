"""The registry of model families: adding one is a module and a line here.

Entries are import paths so that listing families never imports Keras or statsmodels.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from pipeline.config import Settings, parse_date
from pipeline.families.base import Family, describe_saved

FAMILIES: dict[str, str] = {
    "naive": "pipeline.families.naive:SeasonalNaive",
    "sarima": "pipeline.families.sarima:Sarima",
    "linear": "pipeline.families.linear:Linear",
    "simple_rnn_1": "pipeline.families.simple_rnn:SimpleRnn1",
    "simple_rnn": "pipeline.families.simple_rnn:SimpleRnn",
    "deep_rnn": "pipeline.families.simple_rnn:DeepRnn",
    "multivariate_rnn": "pipeline.families.multivariate_rnn:MultivariateRnn",
    "multitask_rnn": "pipeline.families.multivariate_rnn:MultitaskRnn",
    "ahead_rnn": "pipeline.families.ahead_rnn:AheadRnn",
    "seq2seq_rnn": "pipeline.families.seq2seq:Seq2SeqRnn",
    "ln_rnn": "pipeline.families.seq2seq:LayerNormRnn",
    "lstm": "pipeline.families.seq2seq:Lstm",
    "gru": "pipeline.families.seq2seq:Gru",
    "conv_gru": "pipeline.families.seq2seq:ConvGru",
    "wavenet": "pipeline.families.wavenet:WaveNet",
    "wavenet_gated": "pipeline.families.wavenet:GatedWaveNet",
    # beyond the chapter
    "ahead_rnn_calendar": "pipeline.families.ahead_rnn:AheadRnnCalendar",
    "gru_calendar": "pipeline.families.seq2seq:GruCalendar",
    "multivariate_robust": "pipeline.families.multivariate_rnn:RobustMultivariateRnn",
    "multivariate_ensemble": "pipeline.families.ensemble:MultivariateEnsemble",
    "robust_ensemble": "pipeline.families.ensemble:RobustEnsemble",
    "lightgbm": "pipeline.families.boosting:GradientBoosting",
}


def family_class(name: str) -> type[Family]:
    """A registered family by name, or any Family subclass by import path "module:Class"."""
    path = FAMILIES.get(name, name if ":" in name else None)
    if path is None:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)} "
                       "(or give an import path module:Class)")
    module, cls = path.split(":")
    return getattr(importlib.import_module(module), cls)


def training_stages(names) -> tuple[list[str], list[str]]:
    """(families, ensembles): ensembles train after the rest, so that they can adopt the members
    the same run has trained instead of training them again."""
    from pipeline.families.ensemble import Ensemble

    ensembles = [name for name in names if issubclass(family_class(name), Ensemble)]
    return [name for name in names if name not in ensembles], ensembles


def create(name: str, settings: Settings) -> Family:
    return family_class(name)(settings)


def load(directory: Path) -> Family:
    """Re-create a family saved by Family.save, ready to forecast."""
    description = describe_saved(directory)
    saved = {**description["settings"], "as_of": parse_date(description["settings"]["as_of"])}
    family = family_class(description["class"]).restore(Settings(**saved), description["params"])
    family._load_state(Path(directory))
    family.intervals = description.get("intervals", {})
    return family
