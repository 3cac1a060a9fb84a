"""Real parts for the board tests: the ``capleak board`` process, a live agent, HTTP calls.

Nothing is mocked: the board is the installed console script in its own process,
the agent is the real core feeding the real ``Dispatcher`` (alert book, outbox,
publisher), which answers ``ack``/``silence`` from the board over the real broker.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.agent.dispatch import Dispatcher
from edge.core.core import Core
from edge.vocabulary import Reading
from tests.edge.messaging.support import bed_config


class BoardProcess:
    """``capleak board`` as a subprocess; ``url`` from its first line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        exe = shutil.which("capleak", path=os.path.dirname(sys.executable))
        cmd = [exe] if exe else [sys.executable, "-m", "edge.cli"]
        self.proc = subprocess.Popen(
            [*cmd, "board", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=lambda: [lines.put(x.decode()) for x in self.proc.stdout or []], daemon=True
        ).start()
        try:
            first = lines.get(timeout=20)
        except queue.Empty:
            self.stop()
            raise AssertionError("capleak board printed nothing in 20 s") from None
        if "serving" not in first:
            self.stop()
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise AssertionError(f"capleak board did not start: {first!r} {err}")
        self.url = first.split("serving ", 1)[1].split()[0].rstrip("/")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()
        return self.proc.returncode


@contextlib.contextmanager
def board(*args: str) -> Iterator[BoardProcess]:
    b = BoardProcess(*args)
    try:
        yield b
    finally:
        b.stop()


def call(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request; returns status, headers and the decoded JSON (or text) body."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(url, data=data, method=method, headers={**hdrs, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            status, h, payload = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, h, payload = e.code, dict(e.headers), e.read()
    try:
        return status, h, json.loads(payload)
    except ValueError:
        return status, h, payload.decode(errors="replace")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def stay_readings(t0: float, hours: float = 6.05, fall_at_h: float = 5.0) -> Iterator[Reading]:
    """A short HDIL-2 stay: SBP stable, then below the hold limit; 2-minute SpO2/pulse."""
    step = 120.0
    for i in range(int(hours * 3600 / step)):
        t = t0 + i * step
        yield Reading.of("spo2", 97, time=t)
        yield Reading.of("pulse", 84, time=t)
        if i % 8 == 0:  # NIBP every 16 min
            sbp = 122 if t - t0 < fall_at_h * 3600 else 78
            yield Reading.of("sbp", sbp, time=t)
            yield Reading.of("dbp", round(sbp * 0.6), time=t)
            yield Reading.of("map", round(sbp * 0.75), time=t)
        if i % 60 == 0:
            yield Reading.of("weight", 72 + (t - t0) / 3600 * 0.1, time=t)


class LiveAgent:
    """The real core and the real Dispatcher for one bed; it answers commands until closed."""

    def __init__(self, url: str, state_dir: Path, bed: str = "b1") -> None:
        self.config = bed_config(url, state_dir, bed=bed, publish={"vitals_batch_s": 60})
        self.core = Core(self.config)
        self.dispatcher = Dispatcher(self.config).start()
        self.bed = f"s1/u1/{bed}"

    def publish_stay(self, t0: float | None = None, **kwargs: Any) -> None:
        t0 = time.time() - 6.1 * 3600 if t0 is None else t0
        for o in self.core.dose(t0):
            self.dispatcher.output(o)
        t = t0
        for n, r in enumerate(stay_readings(t0, **kwargs)):
            t = r.time or t
            self.dispatcher.output(r)
            if n % 60 == 59:
                self.dispatcher.publisher.flush()  # one vitals message per ~30 min of data
            for o in self.core.update(r):
                self.dispatcher.output(o)
            for o in self.core.tick(t):
                self.dispatcher.output(o)
        for o in self.core.flush():
            self.dispatcher.output(o)
        self.dispatcher.output(self.core.trends(t))
        self.dispatcher.publisher.flush()
        assert self.dispatcher.wait_idle(30), "the agent did not get everything acknowledged"

    def close(self) -> None:
        self.dispatcher.stop()
