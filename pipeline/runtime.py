"""Process-level setup for training tasks: the Keras backend and its thread pools."""

from __future__ import annotations

import os
import socket

from pipeline.config import Settings


def configure(settings: Settings) -> None:
    """Call before Keras is imported: concurrent tasks on a small machine must not each
    start a thread per core (they would fight over the cores and all run slower)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ["KERAS_BACKEND"] != "tensorflow" or settings.tf_threads <= 0:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(settings.tf_threads)
        tf.config.threading.set_inter_op_parallelism_threads(settings.tf_threads)
    except RuntimeError:
        pass  # the runtime is already initialized in this process: keep its pools


def worker_hostname() -> str:
    """Airflow's ``core.hostname_callable`` for workers that share a machine: each names itself
    with RIDERSHIP_WORKER_NAME so task instances record which worker ran them."""
    return os.environ.get("RIDERSHIP_WORKER_NAME") or socket.getfqdn()
