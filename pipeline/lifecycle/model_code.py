"""The pyfunc model definition MLflow logs as code (models-from-code, no pickling)."""

from mlflow.models import set_model

from pipeline.lifecycle.logged_models import RidershipForecaster

set_model(RidershipForecaster())
