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

import math
import threading
import time
from typing import Protocol

#: 2025-01-01T00:00:00Z. A wall clock before this is not set (capleak did not exist
#: yet): a Raspberry Pi has no RTC and boots at 1970 without fake-hwclock, or on the
#: time saved at its last shutdown with it, until NTP steps it (issue 13 item 7).
NOT_BEFORE = 1_735_689_600.0


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

    def step(self, seconds: float) -> None:
        """Step the wall time as NTP or an operator would: ``now()`` jumps, ``monotonic()`` not."""
        self.start += seconds


class ManualClock:
    """A clock that moves only when told to; ``sleep`` advances it.

    ``monotonic()`` starts equal to ``now()``; :meth:`step` moves the wall time alone:

    >>> c = ManualClock(100.0)
    >>> c.step(-3600); c.advance(1); (c.now(), c.monotonic())
    (-3499.0, 101.0)
    """

    def __init__(self, start: float = 0.0) -> None:
        self._t = start
        self._m = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def monotonic(self) -> float:
        with self._lock:
            return self._m

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds
            self._m += seconds

    def step(self, seconds: float) -> None:
        """Step the wall time as NTP or an operator would: ``now()`` jumps, ``monotonic()`` not."""
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


class StepWatch:
    """Detects steps of a wall clock: a change of ``now() - monotonic()`` beyond ``threshold_s``.

    Between two checks both clocks advance alike, whatever the load; NTP's slewing
    changes the wall clock's rate by at most 500 ppm, far below any threshold here.
    A step (NTP's first sync after a boot on saved time, an operator's ``date -s``)
    changes the difference at once.

    >>> w = StepWatch(1.0)
    >>> w.check(1000.0, 5.0), w.check(1000.2, 5.2), w.check(-2599.6, 5.4)
    (0.0, 0.0, -3600.0)
    """

    __slots__ = ("_offset", "threshold_s")

    def __init__(self, threshold_s: float) -> None:
        if threshold_s <= 0:
            raise ValueError("threshold_s must be positive")
        self.threshold_s = threshold_s
        self._offset: float | None = None

    def check(self, wall: float, mono: float) -> float:
        """The step since the last check (s, signed), or 0.0."""
        offset = wall - mono
        last, self._offset = self._offset, offset
        if last is None or abs(offset - last) <= self.threshold_s:
            return 0.0
        return offset - last


class SteadyTime:
    """Epoch time for timed checks that never goes back and never jumps with the wall clock.

    It advances with the monotonic clock and converges to the wall clock at most
    ``slew`` seconds per second, so after a step of the wall clock the checks
    scheduled on it run up to ``1 ± slew`` times as fast until the two agree again:
    a backward step of 1 h neither stops them for an hour nor, forward, fires them
    all at once. ``floor`` (the latest time the consumer has seen, e.g. from a
    reading) pushes it forward: it is never earlier than that.

    >>> s = SteadyTime(slew=0.5)
    >>> s.update(wall=1000.0, mono=0.0), s.update(wall=-2590.0, mono=10.0)  # stepped back 1 h
    (1000.0, 1005.0)
    >>> s.update(wall=-2580.0, mono=20.0), round(s.apart)
    (1010.0, -3590)
    """

    __slots__ = ("_m", "_t", "apart", "floored", "slew")

    def __init__(self, slew: float) -> None:
        if not 0 < slew < 1:
            raise ValueError("slew must be in (0, 1)")
        self.slew = slew
        self._t: float | None = None
        self._m = 0.0
        self.apart = 0.0  #: wall minus this time at the last update
        self.floored = False  #: the floor, not the clocks, set it at the last update

    def reset(self) -> None:
        """Take the wall clock at the next update (it was not set before: nothing to keep)."""
        self._t = None

    def update(self, wall: float, mono: float, floor: float = -math.inf) -> float:
        if self._t is None:
            t = wall
        else:
            dt = max(0.0, mono - self._m)
            t = self._t + dt
            limit = self.slew * dt
            t += min(max(wall - t, -limit), limit)
        self.floored = floor > t
        t = max(t, floor)
        self._t, self._m = t, mono
        self.apart = wall - t
        return t


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
