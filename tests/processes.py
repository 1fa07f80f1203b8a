"""Killing a test's subprocess at a chosen moment: the kill-and-resume tests (runs, budgeted
runs, sweeps) all wait for a file the process writes, then SIGKILL it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path


def sigkill_when_written(
    process: subprocess.Popen, marker: Path, timeout: float, *, ended: str, never: str
) -> None:
    """Wait until ``marker`` exists, then SIGKILL ``process`` and reap it. Fails with ``ended``
    when the process exits first, and with ``never`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert process.poll() is None, ended
        assert time.monotonic() < deadline, never
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
