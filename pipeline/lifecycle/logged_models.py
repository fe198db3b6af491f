"""One MLflow pyfunc for every family: history in, the next `horizon` days out.

Input: daily rows with columns date, day_type, bus, rail ending at the forecast origin
(at least as many days as the family's input window). Output: one row per horizon with
target_date, horizon and forecast (riders).
"""

from __future__ import annotations

import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import mlflow.artifacts
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from pipeline.config import Settings
from pipeline.families.base import Family

FAMILY_ARTIFACT = "family"
MODEL_NAME = "model"
INPUT_COLUMNS = ["date", "day_type", "bus", "rail"]
EXAMPLE_DAYS = 120
REQUIREMENTS = ("mlflow", "keras", "tensorflow", "pandas", "numpy", "statsmodels", "scipy")


class RidershipForecaster(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from pipeline import families

        self.family = families.load(Path(context.artifacts[FAMILY_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        frame = history_frame(model_input)
        origin = frame.index[-1]
        values = self.family.forecast(frame, pd.DatetimeIndex([origin]))[0]
        horizon = np.arange(1, len(values) + 1)
        out = pd.DataFrame({
            "target_date": origin + pd.to_timedelta(horizon, unit="D"),
            "horizon": horizon.astype("int64"),
            "forecast": values.astype("float64"),
        })
        for column, bound in interval_bounds(values, self.family.intervals).items():
            out[column] = bound
        return out


def interval_bounds(values: np.ndarray, intervals: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """lower_<level> and upper_<level> around forecasts `values` (..., H riders), from a family's
    per-horizon half-widths; lower bounds never below 0 (no negative ridership)."""
    out = {}
    for level, widths in intervals.items():
        half = np.asarray(widths[: values.shape[-1]], dtype="float64")
        out[f"lower_{level}"] = np.maximum(values - half, 0.0)
        out[f"upper_{level}"] = values + half
    return out


def history_frame(model_input: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in INPUT_COLUMNS if c not in model_input.columns]
    if missing:
        raise ValueError(f"forecast input lacks column(s) {missing}; expected {INPUT_COLUMNS}")
    frame = model_input[INPUT_COLUMNS].copy()
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.set_index("date").sort_index().asfreq("D")


def model_input(frame: pd.DataFrame) -> pd.DataFrame:
    """The pyfunc input for history `frame` (indexed by date)."""
    out = frame[["day_type", "bus", "rail"]].reset_index()
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    out["day_type"] = out["day_type"].astype(object)
    return out[INPUT_COLUMNS]


def pinned_requirements() -> list[str]:
    pins = []
    for name in REQUIREMENTS:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return pins


def signature(example: pd.DataFrame, output: pd.DataFrame):
    """The model's signature, inferred from an example; without MLflow's hint about integer columns
    (the output's `horizon` is never missing), which a user cannot act on."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer", category=UserWarning)
        return infer_signature(example, output)


def load_pyfunc(settings: Settings, model_uri: str):
    """The pyfunc model of a logged (models:/<model id>) or registered (models:/<name>/<version>)
    model, read from the tracking server and registry `settings` name (held in memory)."""
    from pipeline.lifecycle import tracking

    mlflow_client = tracking.client(settings)
    reference = model_uri.removeprefix("models:/")
    location = (mlflow_client.get_model_version_download_uri(*reference.split("/", 1)) if "/" in reference
                else mlflow_client.get_logged_model(reference).artifact_location)
    with tempfile.TemporaryDirectory(prefix="ridership-model-") as local:
        path = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=local,
                                                   tracking_uri=settings.mlflow_tracking_uri)
        return mlflow.pyfunc.load_model(path)


def load_logged_family(settings: Settings, model_uri: str) -> Family:
    """The family behind a logged or registered model (load_pyfunc)."""
    return load_pyfunc(settings, model_uri).unwrap_python_model().family


def log_family_model(settings: Settings, run_id: str, family: Family, history: pd.DataFrame) -> str:
    """Save the family as a pyfunc model, log it as a logged model of run `run_id` and tag the
    run with its URI; returns that URI (models:/<model id>)."""
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import Model

    from pipeline.lifecycle import tracking

    mlflow_client = tracking.client(settings)
    model = tracking.with_retries(settings, lambda: mlflow_client.create_logged_model(
        tracking.experiment_id(settings), name=MODEL_NAME, source_run_id=run_id, model_type="pyfunc"),
        "create the logged model")
    with tempfile.TemporaryDirectory(prefix="ridership-model-") as staging:
        family.save(Path(staging) / FAMILY_ARTIFACT)
        example = model_input(history.iloc[-max(EXAMPLE_DAYS, family.history_days()):])
        output = RidershipForecaster()
        output.family = family
        mlflow.pyfunc.save_model(
            Path(staging) / MODEL_NAME,
            python_model=str(Path(__file__).with_name("model_code.py")),  # models from code
            artifacts={FAMILY_ARTIFACT: str(Path(staging) / FAMILY_ARTIFACT)},
            signature=signature(example, output.predict(None, example)),
            input_example=example,
            pip_requirements=pinned_requirements(),
            mlflow_model=Model(artifact_path=MODEL_NAME, run_id=run_id, model_id=model.model_id),
        )
        tracking.with_retries(settings, lambda: mlflow_client.log_model_artifacts(
            model.model_id, str(Path(staging) / MODEL_NAME)), "upload the model")
    mlflow_client.finalize_logged_model(model.model_id, "READY")
    mlflow_client.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
    uri = f"models:/{model.model_id}"
    mlflow_client.set_tag(run_id, tracking.MODEL_URI_TAG, uri)
    return uri
