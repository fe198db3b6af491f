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

from pipeline.config import PROJECT_ROOT, Settings  # noqa: E402
from pipeline.entry import runtime  # noqa: E402
from pipeline.inputs import data  # noqa: E402

runtime.configure(Settings())  # the test session is an entry point: the process set up once

DATA_FILE = PROJECT_ROOT / "data" / "CTA_-_Ridership_-_Daily_Boarding_Totals.csv"
LAYERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items):
    """Mark each test with the layer of its folder (pyproject.toml's markers): `-m "not e2e"` etc."""
    tests = Path(__file__).parent
    for item in items:
        layer = Path(item.fspath).relative_to(tests).parts[0]
        if layer not in LAYERS:
            raise pytest.UsageError(f"{item.nodeid}: a test lives in tests/unit, tests/integration or tests/e2e")
        if layer != "unit":
            item.add_marker(getattr(pytest.mark, layer))


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
