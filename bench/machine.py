"""The machine a benchmark ran on, named with every timing: its processor model decides them."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def processor() -> str:
    """The processor's model name (/proc/cpuinfo), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """e.g. 'AMD EPYC (x86_64, 2 cores, Python 3.11.7)'."""
    return f"{processor()} ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})"
