"""Process set-up of task processes: what reaches stderr (an ERROR line in an Airflow task log)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pipeline.config import PROJECT_ROOT

SCRIPT = textwrap.dedent("""
    import logging, sys, warnings
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from pipeline import runtime
    from pipeline.config import Settings
    runtime.configure(Settings())
    import keras, mlflow
    keras.ops.add(1, 2)
    logging.getLogger("mlflow.pyfunc").info("validating the input example")
    warnings.warn("a harmless warning")
    raise RuntimeError("a real failure")
""")


def test_start_up_chatter_and_warnings_are_logged_and_real_errors_still_reach_stderr():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1
    assert "oneDNN" not in done.stderr and "cuda" not in done.stderr.lower() and "Warning" not in done.stderr
    assert "RuntimeError: a real failure" in done.stderr
    assert "INFO pipeline.runtime: tensorflow: " in done.stdout and "oneDNN" in done.stdout
    assert "INFO mlflow.pyfunc: validating the input example" in done.stdout
    assert "WARNING py.warnings: " in done.stdout and "a harmless warning" in done.stdout
