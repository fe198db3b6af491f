"""Whether a training continues from the family's last fit (warm start) or starts from scratch.

A family that can (Family.warm_starts) continues from its latest fit on an earlier data cutoff when
that fit has the same warm key: the family, its params, every setting that shapes a fit except the
cutoff and the family list, and the model code. It starts from scratch when the key changed, when
`Settings.max_warm_starts` warm starts in a row led to that fit, when warm starts are off
(`warm_start`) or when `from_scratch` forces it. No MLflow here: the steps look past fits up and
record the choice (tracking's training-mode tags).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipeline.config import Settings
from pipeline.families.base import Family

WARM = "warm"
SCRATCH = "scratch"
# Settings a fit can change between two warm-started nights without invalidating the weights.
NOT_IN_KEY = ("as_of", "families", "warm_start", "warm_epochs", "warm_patience", "max_warm_starts",
              "backtest_years", "backtest_days")
# Modules whose source is no part of a model: settings reach the key as values; errors and storage shape no fit.
NOT_MODEL_CODE = ("pipeline.config", "pipeline.errors", "pipeline.io.storage")


def model_modules(family: Family) -> list[str]:
    """The project modules that define `family`'s model and its inputs: its own module and every
    pipeline module it reaches through the names those modules import, and, for a family that
    builds on members, theirs too (sorted module names)."""
    import importlib
    import inspect

    from pipeline import families

    seen: set[str] = set()
    todo = [type(family).__module__] + [families.FAMILIES.get(name, "") for name, _ in family.builds_on()]
    while todo:
        name = todo.pop()
        if not name.startswith("pipeline") or name in seen or name in NOT_MODEL_CODE:
            continue
        seen.add(name)
        for value in vars(importlib.import_module(name)).values():
            ref = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
            if isinstance(ref, str) and ref.startswith("pipeline.") and ref not in seen:
                todo.append(ref)
    return sorted(seen)


@functools.lru_cache(maxsize=None)
def _digest(modules: tuple[str, ...]) -> str:
    import importlib

    digest = hashlib.sha256()
    for name in modules:
        digest.update(name.encode())
        digest.update(Path(importlib.import_module(name).__file__).read_bytes())
    return digest.hexdigest()[:12]


# Model code that fits exactly as earlier code did, by digest (new: old): the changes that made it
# were refactors, checked to fit alike (bench/same_fits.py: the same forecasts, scores, intervals and
# params for every family), so their fits continue the earlier ones' warm starts instead of
# retraining every family from scratch. An entry lapses by itself when the code changes again. The
# ones entered: the modules moved into packages and families given their own hyper-parameters
# (bench/results/layout/README.md, bench/results/hyper/README.md).
EQUIVALENT_CODE: dict[str, str] = {
    "d7a6cc37bd53": "3fdb3d8e1698",  # ahead_rnn, ahead_rnn_calendar
    "398bb86d78c5": "1b47cfc300f1",  # conv_gru, gru, gru_calendar, ln_rnn, lstm, seq2seq_rnn
    "faff92fe3967": "6e956d03d249",  # deep_rnn, simple_rnn, simple_rnn_1
    "1837e893ea0e": "13c4d3c7a463",  # lightgbm
    "7d5b8b4d8428": "6cd0993e2bc4",  # linear
    "5684fece9bee": "63ec596ac56d",  # multitask_rnn, multivariate_rnn, multivariate_robust
    "45c2aae82a4c": "d0a12a3d487a",  # multivariate_ensemble
    "623d7b384f60": "71ea66ee2064",  # naive
    "cea6ad492ebe": "9161efb64e7a",  # robust_ensemble
    "4f0ac33fe4ac": "ff4fd834a4c2",  # sarima
    "7a2d83a969d3": "7c2626de2a71",  # wavenet, wavenet_gated
}


def model_code_digest(family: Family) -> str:
    """A hash of the source that defines `family`'s model and inputs (model_modules): changing it
    retrains that family from scratch; a change to another family's code or to the rest of the
    pipeline does not, nor does a refactor entered in EQUIVALENT_CODE."""
    digest = _digest(tuple(model_modules(family)))
    return EQUIVALENT_CODE.get(digest, digest)


def warm_key_parts(family: Family, settings: Settings) -> dict:
    """What must be equal for `family` to continue from a previous fit, as JSON values: family,
    class, settings (those that shape a fit, NOT_IN_KEY aside), params and model code."""
    values = {k: v for k, v in settings.training_dict().items() if k not in NOT_IN_KEY}
    parts = {"family": family.name, "class": f"{type(family).__module__}:{type(family).__qualname__}",
             "settings": values, "params": family.params(), "code": model_code_digest(family)}
    return json.loads(json.dumps(parts, default=str))


def key_of(parts: dict) -> str:
    """The warm key (12 hex digits) of `warm_key_parts`."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def changes(before: dict, after: dict, shown: int = 4) -> str:
    """The warm-key parts that differ, e.g. "setting epochs 500 -> 3, model code '1a2b' -> '3c4d'";
    settings and params are compared one by one."""
    named = {"settings": "setting", "params": "param"}
    diffs = []
    for part in sorted(set(before) | set(after)):
        old, new = before.get(part), after.get(part)
        if part in named and isinstance(old, dict) and isinstance(new, dict):
            diffs += [f"{named[part]} {k} {old.get(k)!r} -> {new.get(k)!r}"
                      for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        elif old != new:
            diffs.append(f"{'model code' if part == 'code' else part} {old!r} -> {new!r}")
    more = f" and {len(diffs) - shown} more" if len(diffs) > shown else ""
    return ", ".join(diffs[:shown]) + more


@dataclass(frozen=True)
class PastFit:
    """A finished training of a family, as recorded in its MLflow run."""
    run_id: str
    as_of: date  # its data cutoff
    warm_key: str
    warm_starts: int  # warm starts in a row that led to it (0: it was trained from scratch)
    model_uri: str
    warm_key_parts: dict | None = None  # None for fits recorded before the parts were


@dataclass(frozen=True)
class Start:
    mode: str  # WARM or SCRATCH
    reason: str
    previous: PastFit | None = None  # the fit a warm start continues from
    warm_starts: int = 0  # warm starts in a row, this one included
    key_parts: dict | None = None  # this training's warm_key_parts

    @property
    def key(self) -> str:
        return key_of(self.key_parts) if self.key_parts is not None else ""


def choose(family: Family, settings: Settings, past: list[PastFit]) -> Start:
    """How `family` trains as of `settings.as_of`, given the family's past fits (any order):
    WARM from the latest one on an earlier cutoff if its warm key matches and the run of warm
    starts is not at `settings.max_warm_starts`, else SCRATCH; the reason says which rule decided
    (and, for a changed key, what changed)."""
    parts = warm_key_parts(family, settings)
    scratch = functools.partial(Start, SCRATCH, key_parts=parts)
    if not family.warm_starts:
        return scratch(f"{family.name} has no warm start")
    if settings.from_scratch:
        return scratch("forced from scratch (from_scratch)")
    if not settings.warm_start or settings.max_warm_starts == 0:
        return scratch("warm starts are off (warm_start is false or max_warm_starts is 0)")
    earlier = [p for p in past if p.as_of < settings.as_of]
    if not earlier:
        return scratch(f"no earlier fit of {family.name} before {settings.as_of}")
    latest = max(earlier, key=lambda p: p.as_of)
    if latest.warm_key != key_of(parts):
        what = f": {changes(latest.warm_key_parts, parts)}" if latest.warm_key_parts is not None else ""
        return scratch(f"settings, params or model code changed since run {latest.run_id} "
                       f"(as of {latest.as_of}){what}")
    if latest.warm_starts >= settings.max_warm_starts:
        return scratch(f"{latest.warm_starts} warm start(s) in a row up to run {latest.run_id}, "
                       f"the most allowed (max_warm_starts)")
    return Start(WARM, f"continues from run {latest.run_id} as of {latest.as_of}, "
                       f"{(settings.as_of - latest.as_of).days} days of data later", latest,
                 latest.warm_starts + 1, parts)
