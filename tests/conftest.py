from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Airflow reads its home at import: give the test session a private, throwaway one.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="ridership-airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

from pipeline import data  # noqa: E402
from pipeline.config import PROJECT_ROOT, Settings  # noqa: E402

DATA_FILE = PROJECT_ROOT / "data" / "CTA_-_Ridership_-_Daily_Boarding_Totals.csv"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    # A developer's RIDERSHIP_* variables must not leak into tests.
    for key in list(os.environ):
        if key.startswith("RIDERSHIP_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def raw_bytes() -> bytes:
    return DATA_FILE.read_bytes()


@pytest.fixture(scope="session")
def raw_frame(raw_bytes):
    return data.parse_raw(raw_bytes, str(DATA_FILE))


@pytest.fixture(scope="session")
def frame(raw_frame):
    return data.clean(raw_frame)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "state", epochs=2)


def write_csv(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)
