"""Real simulator subprocesses (`capleak simulate`) for the driver integration tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest


class SimProcess:
    """A running `capleak simulate`; ``path`` is the first line it printed."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "simulate", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise AssertionError(f"simulator printed no path: {err}")
        self.path = line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def simulator() -> Iterator[Callable[..., SimProcess]]:
    """Start `capleak simulate ARGS...`; every one is stopped at teardown."""
    procs: list[SimProcess] = []

    def start(*args: str) -> SimProcess:
        p = SimProcess(*args)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()
