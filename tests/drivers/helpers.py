"""Small helpers shared by the driver tests."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from drivers.framing import LineFramer
from drivers.model import VitalState
from drivers.registry import get_driver
from edge.vocabulary import Reading


def vital_state(**values: float) -> VitalState:
    """A simulator state holding ``values`` (measured at time 0)."""
    s = VitalState()
    for k, v in values.items():
        s.update(Reading.of(k, v, time=0.0))
    return s


def decode(driver: str, frames: list[bytes], now: float = 100.0) -> list[Reading]:
    """What a fresh decoder of ``driver`` makes of ``frames``."""
    d = get_driver(driver).decoder(driver, {})
    return d.feed(b"".join(frames), now=now)


#: The simulated patient of the generic driver tests (round ``k`` adds ``k`` to each value).
SCENARIO: dict[str, float] = {
    "spo2": 94.0,
    "pulse": 70.0,
    "pi": 3.25,
    "sbp": 120.0,
    "map": 90.0,
    "dbp": 75.0,
    "weight": 71.5,
}
T0 = 1.7e9


def scenario_values(k: int) -> dict[str, float]:
    """The scenario's values in round ``k``."""
    return {signal: value + k for signal, value in SCENARIO.items()}


def simulated_stream(name: str, rounds: int = 1) -> tuple[bytes, float]:
    """What driver ``name``'s simulator model sends over ``rounds`` rounds, and the end time.

    Generic over the registry (no per-driver branches), the way the engine
    drives a model: each round (60 s apart) the scenario's readings update the
    state and reach ``on_reading`` (printing devices); then a periodic model
    emits for one second or one period, whichever is longer; a polled model
    answers the driver's ``poll_command``; a session model (``receive``) talks
    to the driver's own session until a poll reply carries readings.
    """
    spec = get_driver(name)
    model = spec.model({})
    state = VitalState()
    host = spec.session(name, {}) if spec.session is not None else None
    receive = getattr(model, "receive", None)
    out: list[bytes] = []
    t = T0
    for k in range(rounds):
        t = T0 + 60.0 * k
        for signal, value in scenario_values(k).items():
            r = Reading.of(signal, value, time=t)
            state.update(r)
            out += model.on_reading(state, r, t)
        period = model.period_s
        if period is not None:
            steps = max(1, round(max(1.0, period) / period))
            for i in range(steps):
                out += model.emit(state, t + i * period)
        if spec.poll_command is not None:
            for line in LineFramer().feed(spec.poll_command):
                out += model.answer(line, state, t)
        if host is not None and receive is not None:
            for _ in range(2000):  # 100 s of 50 ms ticks: association, MDS, a poll
                tx, answered = host.on_timer(t), False
                while tx:
                    frames = receive(tx, state, t)
                    out += frames
                    readings, tx = host.feed(b"".join(frames), t)
                    answered = answered or bool(readings)
                if answered:
                    break
                t += 0.05
            else:
                raise AssertionError(f"{name}: the session never got a poll reply")
    return b"".join(out), t


class PtyWriter:
    """A device on the master end of a pty: writes ``make()`` every ``period`` s (a thread).

    Swap ``make`` to change what the device says (garbage, then valid frames).
    ``first`` is the monotonic time of the first write since the last swap.
    """

    def __init__(self, pty: Any, make: Callable[[], bytes], period: float = 0.1) -> None:
        self.pty = pty
        self.period = period
        self.first: float | None = None
        self._make = make
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def say(self, make: Callable[[], bytes]) -> None:
        self._make, self.first = make, None

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            with contextlib.suppress(OSError):
                make = self._make
                self.pty.write(make())
                if self.first is None and make is self._make:
                    self.first = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def garbage(size: int, seed: int = 5) -> Callable[[], bytes]:
    """Random bytes, ``size`` per call: what a device at the wrong baud rate sends."""
    rng = random.Random(seed)
    return lambda: rng.randbytes(size)


def masimo_line() -> bytes:
    """A valid Masimo ASCII 1 line stamped now (SpO2 97 %, pulse 70)."""
    stamp = time.strftime("%m/%d/%y %H:%M:%S", time.gmtime())
    return f"{stamp} SPO2=097% BPM=070 PI=02.50% ALARM=0000 EXC=000800\r\n".encode()
