"""Process-level setup for tasks that run models: the Keras backend, its thread pools, clean logs."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
from typing import Iterator

from pipeline.config import Settings

log = logging.getLogger(__name__)


def configure(settings: Settings, models: bool = True) -> None:
    """The process-wide setup, once at an entry point (the CLI, a DAG task's start, a benchmark's
    main or worker) and never from the library: logs (`route_logs`) and, when the process trains
    or loads models (`models`), the Keras backend and TensorFlow's thread pools, before Keras is
    imported: concurrent tasks on a small machine must not each start a thread per core (they
    would fight over the cores and all run slower).

    TensorFlow's native start-up messages (oneDNN, the CUDA probe) are logged at INFO here
    instead of reaching stderr, see `route_logs`.
    """
    route_logs()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not models or os.environ["KERAS_BACKEND"] != "tensorflow":
        return
    with stderr_logged("tensorflow"):
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe (and its message) happens here, not mid-training
    if settings.tf_threads <= 0:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(settings.tf_threads)
        tf.config.threading.set_inter_op_parallelism_threads(settings.tf_threads)
    except RuntimeError:
        pass  # the runtime is already initialized in this process: keep its pools


def route_logs() -> None:
    """Send Python warnings and MLflow's log records through `logging` at their own levels.

    An Airflow task log shows every line written to stderr as an ERROR; warnings and MLflow's
    INFO lines (which MLflow writes to stderr through its own handler) are not errors. Call
    before MLflow is imported; idempotent. Exceptions still reach stderr.
    """
    logging.captureWarnings(True)
    tensorflow_log = logging.getLogger("tensorflow")
    if not any(isinstance(f, _Demoted) for f in tensorflow_log.filters):
        tensorflow_log.addFilter(_Demoted(DEMOTED))
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # bars are stderr lines too
    if "mlflow" in sys.modules:  # imported already, with its stderr handler
        mlflow_log = logging.getLogger("mlflow")
        mlflow_log.handlers, mlflow_log.propagate = [], True


# Warnings of libraries that no user can act on, logged at INFO instead: TensorFlow's notice that
# a function was traced again, which a process that fits several models (backtests) always sees.
DEMOTED = ("triggered tf.function retracing",)


class _Demoted(logging.Filter):
    def __init__(self, phrases: tuple[str, ...]):
        super().__init__()
        self.phrases = phrases

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and any(p in record.getMessage() for p in self.phrases):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


@contextlib.contextmanager
def stderr_logged(source: str, level: int = logging.INFO) -> Iterator[None]:
    """Log each line written to file descriptor 2 inside the block at `level`, instead of
    writing it: TensorFlow's C++ logging writes there before it is initialized (which
    TF_CPP_MIN_LOG_LEVEL does not silence), and MLflow prints registry notices there.
    Python exceptions raised in the block propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                if line.strip():
                    log.log(level, "%s: %s", source, line)


def worker_hostname() -> str:
    """Airflow's ``core.hostname_callable`` for workers that share a machine: each names itself
    with RIDERSHIP_WORKER_NAME so task instances record which worker ran them."""
    return os.environ.get("RIDERSHIP_WORKER_NAME") or socket.getfqdn()
