"""Features and sliding windows, materialized once per (data, config) and read by every family.

Windows are plain NumPy arrays so that the same files feed any Keras backend.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from pipeline.io import storage
from pipeline.inputs.calendar import day_type, day_types
from pipeline.config import Problem, Settings

DAY_TYPES = ("W", "A", "U")
FEATURES = ("bus", "rail", "next_W", "next_A", "next_U")


@dataclass(frozen=True)
class WindowSpec:
    """Which columns go in, which come out, and how far ahead.

    ``seq2seq`` windows carry a target at every input step (the chapter's to_seq2seq_dataset):
    y[t] holds the ``ahead`` values after input step t.
    """

    inputs: tuple[str, ...]
    targets: tuple[str, ...]
    seq_length: int
    ahead: int = 1
    seq2seq: bool = False

    @property
    def name(self) -> str:
        kind = "s2s" if self.seq2seq else "vec"
        inputs = "+".join(c for c in self.inputs if not c.startswith("day"))
        if any(c.startswith("day") for c in self.inputs):
            inputs += "+calendar"  # the next-days columns follow from the horizon, in the name too
        return f"{inputs}__{'+'.join(self.targets)}__L{self.seq_length}_H{self.ahead}_{kind}"

    @property
    def rows_needed(self) -> int:
        return self.seq_length + self.ahead


def one_hot_day_types(types: list[str]) -> np.ndarray:
    lookup = {t: i for i, t in enumerate(DAY_TYPES)}
    out = np.zeros((len(types), len(DAY_TYPES)), dtype=np.float32)
    out[np.arange(len(types)), [lookup[t] for t in types]] = 1.0
    return out


def calendar_columns(horizon: int) -> tuple[str, ...]:
    """One-hot day types of each of the next `horizon` days: what a direct forecaster knows
    about the days it forecasts (weekends and holidays are in the calendar)."""
    return tuple(f"day{k:02d}_{t}" for k in range(1, horizon + 1) for t in DAY_TYPES)


def feature_frame(frame: pd.DataFrame, scale: float, horizon: int = 0) -> pd.DataFrame:
    """Scaled bus and rail, the one-hot type of the *next* day (known from the calendar) and,
    with `horizon`, the types of each of the next `horizon` days."""
    next_types = frame["day_type"].shift(-1).astype(object)
    last = frame.index[-1].date()
    next_types.iloc[-1] = day_type(last + timedelta(days=1))
    features = pd.DataFrame(one_hot_day_types(list(next_types)), index=frame.index, columns=FEATURES[2:])
    features.insert(0, "rail", (frame["rail"] / scale).astype(np.float32))
    features.insert(0, "bus", (frame["bus"] / scale).astype(np.float32))
    if horizon:
        days = pd.date_range(frame.index[0], frame.index[-1] + pd.Timedelta(days=horizon), freq="D")
        types = one_hot_day_types(day_types(days.date))
        block = np.concatenate([types[k:k + len(frame)] for k in range(1, horizon + 1)], axis=1)
        features = pd.concat([features, pd.DataFrame(block, index=frame.index, columns=calendar_columns(horizon))],
                             axis=1)
    return features


def make_windows(values: np.ndarray, spec: WindowSpec, inputs: list[int], targets: list[int],
                 starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows starting at ``starts`` (row positions): X (n, L, C) and y shaped for the spec."""
    length, ahead = spec.seq_length, spec.ahead
    view = np.lib.stride_tricks.sliding_window_view(values, length + ahead, axis=0)  # (n, C, L+H)
    view = np.moveaxis(view, -1, 1)[starts]  # (n, L+H, C)
    X = view[:, :length][:, :, inputs]
    if spec.seq2seq:
        steps = np.arange(length)[:, None] + 1 + np.arange(ahead)[None, :]  # (L, H)
        y = view[:, steps][..., targets]  # (n, L, H, k)
        y = y[..., 0] if len(targets) == 1 else y
    else:
        y = view[:, length:length + ahead][:, :, targets]  # (n, H, k)
        y = y[:, 0, :] if ahead == 1 else (y[..., 0] if len(targets) == 1 else y)
    return np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float32)


def window_starts(index: pd.DatetimeIndex, spec: WindowSpec, first: date, last: date,
                  inputs_inside: bool) -> np.ndarray:
    """Start rows of windows whose final targets lie in [first, last] (and inputs too if asked).

    A seq2seq window is placed by the targets of its last step: the earlier steps' targets are
    earlier days, so training windows never reach into the early-stopping range.
    """
    positions = np.arange(len(index) - spec.rows_needed + 1)
    dates = index.values
    first_target = dates[positions + spec.seq_length]
    last_target = dates[positions + spec.rows_needed - 1]
    earliest = dates[positions] if inputs_inside else first_target
    keep = (earliest >= np.datetime64(first)) & (last_target <= np.datetime64(last))
    return positions[keep]


def fit_and_stop_ranges(problem: Problem) -> dict[str, tuple[date, date]]:
    """Target-date ranges of the training windows and of the early-stopping windows."""
    day_before = lambda d: d - timedelta(days=1)  # noqa: E731
    if problem.protocol == "chapter":
        return {"fit": (problem.train_start, day_before(problem.valid_start)),
                "stop": (problem.valid_start, problem.as_of)}
    return {"fit": (problem.train_start, day_before(problem.valid_start)),
            "stop": (problem.valid_start, day_before(problem.score_start))}


def build_split_windows(frame: pd.DataFrame, spec: WindowSpec, problem: Problem) -> dict[str, np.ndarray]:
    """The fit and early-stopping windows of `spec` over `frame` (rows up to problem.as_of):
    X_fit, y_fit, X_stop, y_stop as (n, seq, features) and (n, [seq,] ahead) float32 arrays in
    problem.scale units."""
    features = feature_frame(frame.loc[: pd.Timestamp(problem.as_of)], problem.scale, problem.horizon)
    values = features.to_numpy(np.float32)
    columns = list(features.columns)
    inputs = [columns.index(c) for c in spec.inputs]
    targets = [columns.index(c) for c in spec.targets]
    arrays = {}
    for split, (first, last) in fit_and_stop_ranges(problem).items():
        starts = window_starts(features.index, spec, first, last, problem.protocol == "chapter")
        arrays[f"X_{split}"], arrays[f"y_{split}"] = make_windows(values, spec, inputs, targets, starts)
    return arrays


def windows_key(data_hash: str, settings: Settings) -> str:
    return f"{data_hash}-{settings.digest()}"


def materialize(frame: pd.DataFrame, specs: list[WindowSpec], settings: Settings, data_hash: str,
                clean_uri: str) -> dict:
    """Write each spec's windows once under the artifact root; return (and write) the manifest."""
    base = storage.join(settings.artifact_root, "windows", windows_key(data_hash, settings))
    manifest_uri = storage.join(base, "manifest.json")
    if storage.exists(manifest_uri):
        manifest = storage.read_json(manifest_uri)
        if all(spec.name in manifest["specs"] for spec in specs):
            return manifest
    entries = {}
    for spec in specs:
        arrays = build_split_windows(frame, spec, settings.problem)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        uri = storage.write_bytes(storage.join(base, f"{spec.name}.npz"), buffer.getvalue())
        entries[spec.name] = {"uri": uri, "spec": asdict(spec),
                              "shapes": {k: list(v.shape) for k, v in arrays.items()}}
    manifest = {
        "uri": manifest_uri,
        "data_hash": data_hash,
        "config_digest": settings.digest(),
        "as_of": settings.as_of.isoformat(),
        "clean_uri": clean_uri,
        "protocol": settings.protocol,
        "ranges": {k: [a.isoformat(), b.isoformat()] for k, (a, b) in fit_and_stop_ranges(settings.problem).items()},
        "specs": entries,
    }
    storage.write_json(manifest_uri, manifest)  # written last: its presence means complete
    return manifest


def load_windows(manifest: dict, spec: WindowSpec) -> dict[str, np.ndarray]:
    entry = manifest["specs"].get(spec.name)
    if entry is None:
        raise KeyError(f"windows {spec.name} were not materialized in {manifest['uri']}")
    with np.load(io.BytesIO(storage.read_bytes(entry["uri"]))) as archive:
        return {k: archive[k] for k in archive.files}


def origin_inputs(features: pd.DataFrame, origins: pd.DatetimeIndex, spec: WindowSpec) -> np.ndarray:
    """Input windows (n, L, C) ending at each origin (inclusive)."""
    positions = features.index.get_indexer(origins)
    if (positions < 0).any() or (positions < spec.seq_length - 1).any():
        raise ValueError(f"need {spec.seq_length} days of history before each origin")
    values = features[list(spec.inputs)].to_numpy(np.float32)
    rows = positions[:, None] - spec.seq_length + 1 + np.arange(spec.seq_length)[None, :]
    return values[rows]
