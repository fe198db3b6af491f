"""Process set-up of task processes: what reaches stderr (an ERROR line in an Airflow task log).

TensorFlow prints different start-up lines on different processors (oneDNN on some, the cudart
probe and cpu_feature_guard on others, nothing on a third), so these tests make their own native
output instead of hoping for a given line, and check stderr by what is allowed there: a traceback.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pipeline.config import PROJECT_ROOT

SCRIPT = textwrap.dedent("""
    import ctypes, logging, os, sys, warnings
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from pipeline.entry import runtime
    from pipeline.config import Settings
    runtime.configure(Settings())
    with runtime.stderr_logged("native"):
        # what a C++ library writes before its logging is set up: straight to file descriptor 2
        ctypes.CDLL(None).write(2, b"I0000 native start-up line from C\\n", 34)
        os.system("echo 'a child process writes to stderr' >&2")
    import keras, mlflow
    keras.ops.add(1, 2)
    logging.getLogger("mlflow.pyfunc").info("validating the input example")
    warnings.warn("a harmless warning")
    raise RuntimeError("a real failure")
""")
TRACEBACK_LINE = ("Traceback (most recent call last):", "  File ", "    ", "RuntimeError: a real failure")


def run_script(extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "KERAS_BACKEND": "tensorflow",
           **(extra_env or {})}
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)


def test_start_up_chatter_and_warnings_are_logged_and_real_errors_still_reach_stderr():
    done = run_script()
    assert done.returncode == 1
    # stderr holds the real failure's traceback and nothing else, whatever the processor printed
    stray = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith(TRACEBACK_LINE)]
    assert stray == [], done.stderr
    assert "RuntimeError: a real failure" in done.stderr
    assert "INFO pipeline.entry.runtime: native: I0000 native start-up line from C" in done.stdout
    assert "INFO pipeline.entry.runtime: native: a child process writes to stderr" in done.stdout
    assert "INFO mlflow.pyfunc: validating the input example" in done.stdout
    assert "WARNING py.warnings: " in done.stdout and "a harmless warning" in done.stdout


def test_tensorflow_start_up_lines_are_logged_whichever_it_prints():
    """With TensorFlow's own info logging on, it prints start-up lines on every processor (which
    ones varies); each must arrive as an INFO record, none on stderr."""
    done = run_script({"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert done.returncode == 1
    stray = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith(TRACEBACK_LINE)]
    assert stray == [], done.stderr
    tensorflow_lines = [line for line in done.stdout.splitlines() if line.startswith("INFO pipeline.entry.runtime: tensorflow: ")]
    print("\n".join(tensorflow_lines))
    assert tensorflow_lines, done.stdout
