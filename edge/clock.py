"""Clocks, injected everywhere time matters (``shared/docs/style.md``).

The core never reads the wall clock: it takes time from readings. Runtime
pieces (transports, the publisher, the demo) take a :class:`Clock` so that
tests can drive time by hand and the demo can run days of simulated time in
minutes.

>>> c = ManualClock(100.0)
>>> c.advance(5); c.now()
105.0
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """UTC epoch seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of this clock's time."""
        ...

    def monotonic(self) -> float:
        """A monotonic reading in this clock's seconds (for timeouts)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic()


class ScaledClock:
    """Simulated time running ``speed`` times faster than real time from ``start``.

    Shared by the demo's simulators and agent so trends run on simulated time.
    """

    def __init__(self, start: float, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self._t0) * self.speed

    def monotonic(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)


class ManualClock:
    """A clock that moves only when told to; ``sleep`` advances it."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def monotonic(self) -> float:
        return self.now()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))


class SharedScaledClock:
    """Scaled simulated time that several processes agree on.

    ``now() = start + (wall - anchor) * speed`` where ``wall`` is the system's
    real-time clock and ``anchor`` a wall-clock instant every process was given
    (:class:`ScaledClock` counts from its own construction, so two processes
    would disagree by their start-up delay). The demo gives the same
    ``start``/``speed``/``anchor`` to the simulators and the agent through
    ``CAPLEAK_CLOCK`` (:func:`clock_from_spec`), so trends run on simulated time.

    >>> c = SharedScaledClock(start=1000.0, speed=60.0, anchor=time.time())
    >>> 1000.0 <= c.now() < 1000.0 + 60.0
    True
    """

    def __init__(self, start: float, speed: float, anchor: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self.anchor = anchor

    def now(self) -> float:
        return self.start + (time.time() - self.anchor) * self.speed

    def monotonic(self) -> float:
        # Wall-based like now(): processes must agree, and the demo is minutes long.
        return (time.time() - self.anchor) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)

    @property
    def spec(self) -> str:
        """This clock as a ``CAPLEAK_CLOCK`` value for a child process."""
        return f"start={self.start!r},speed={self.speed!r},anchor={self.anchor!r}"


def clock_from_spec(spec: str | None) -> Clock:
    """The clock named by a ``CAPLEAK_CLOCK`` value; the system clock when empty.

    ``start=EPOCH,speed=N,anchor=EPOCH`` (anchor defaults to now).

    >>> clock_from_spec("").__class__.__name__
    'SystemClock'
    >>> clock_from_spec("start=0,speed=3600,anchor=5").speed
    3600.0
    """
    if not spec or not spec.strip():
        return SystemClock()
    fields: dict[str, float] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("start", "speed", "anchor"):
            raise ValueError(f"CAPLEAK_CLOCK: expected start=,speed=,anchor=, got {part!r}")
        try:
            fields[key] = float(value)
        except ValueError:
            raise ValueError(f"CAPLEAK_CLOCK: {key} must be a number, got {value!r}") from None
    if "start" not in fields or "speed" not in fields:
        raise ValueError("CAPLEAK_CLOCK needs start= and speed=")
    return SharedScaledClock(fields["start"], fields["speed"], fields.get("anchor", time.time()))
