"""The simulator engine: play a scenario through a device model, with faults.

A :class:`Simulator` plays a *scenario* (:mod:`drivers.simulator.scenario`: an
iterator of Readings in time order) the way the real device would, through the
device's model (the driver module's ``model``, e.g.
:class:`drivers.masimo_ascii.MasimoModel`, found by :func:`make_model` in the
registry), over an endpoint (:mod:`drivers.simulator.endpoints`): python-can's
``virtual`` interface and player, ``shared/docs/style.md``. What each device
sends is documented with its model in its driver module.

Models answer host requests framed as text lines (``answer``); a model with a
``receive(data, state, t)`` method gets the host's raw bytes instead (binary
session protocols such as IntelliVue).

Time: the simulator runs on an injected clock (:class:`drivers.base.Clock`);
with ``edge.clock.ScaledClock`` (``--speed N``) a day passes in 24/N hours and
frame times (Masimo's date-time, the Accutorr minutes) are simulated time.

Faults (:class:`Faults`), windows in seconds of simulated time from the start:
garbage bursts, single bit flips and checksum errors (per-frame
probabilities, seeded), sensor-off periods (the device reports its
sensor-off state), silence (nothing sent, polls unanswered) and unplug/replug
(the port is closed and reopened: a new pty, a new TCP listener).

:func:`replay_capture` plays a ``capleak capture`` file back with its timing.

Nothing in the live data path imports this module.
"""

from __future__ import annotations

import logging
import random
import select
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.base import Clock
from drivers.framing import LineFramer
from drivers.model import DeviceModel, VitalState
from drivers.registry import driver_names, get_driver
from drivers.simulator.endpoints import Endpoint
from drivers.simulator.scenario import parse_duration
from edge.vocabulary import Reading

log = logging.getLogger("drivers.simulator")  # the name its log lines always had


def make_model(driver: str, options: Mapping[str, str] | None = None) -> DeviceModel:
    """A fresh simulator model of ``driver``'s device (its registry entry's ``model``)."""
    if driver not in driver_names():
        raise ValueError(f"no simulator for driver {driver!r}; known: {driver_names()}")
    return get_driver(driver).model(options or {})


# -- faults ---------------------------------------------------------------------------
Window = tuple[float, float]  # (start offset, duration), simulated seconds


def parse_window(text: str) -> Window:
    """``AT+DURATION``, e.g. ``30s+20s`` or ``2h+5m``.

    >>> parse_window("1m+30s")
    (60.0, 30.0)
    """
    at, sep, dur = text.partition("+")
    if not sep:
        raise ValueError(f"bad window {text!r}: use AT+DURATION, e.g. 30s+20s")
    return parse_duration(at), parse_duration(dur)


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault injection. Probabilities are per frame; windows are from the start."""

    garbage: float = 0.0
    bitflip: float = 0.0
    bad_checksum: float = 0.0
    sensor_off: Sequence[Window] = ()
    silence: Sequence[Window] = ()
    unplug: Sequence[Window] = ()
    seed: int = 0

    @staticmethod
    def active(windows: Sequence[Window], elapsed: float) -> bool:
        return any(a <= elapsed < a + d for a, d in windows)

    def boundaries(self) -> list[float]:
        return sorted(
            x
            for ws in (self.sensor_off, self.silence, self.unplug)
            for a, d in ws
            for x in (a, a + d)
        )


class _Corrupter:
    def __init__(self, faults: Faults, model: DeviceModel) -> None:
        self.f = faults
        self.model = model
        self.rng = random.Random(faults.seed)
        self.counts: dict[str, int] = {"garbage": 0, "bitflip": 0, "bad_checksum": 0}
        self._warned = False

    def __call__(self, frame: bytes) -> bytes:
        out = frame
        if self.f.bad_checksum and self.rng.random() < self.f.bad_checksum:
            bad = self.model.bad_checksum(out)
            if bad is None:
                if not self._warned:
                    log.warning("this protocol has no checksum: --bad-checksum does nothing")
                    self._warned = True
            else:
                out = bad
                self.counts["bad_checksum"] += 1
        if self.f.bitflip and self.rng.random() < self.f.bitflip:
            buf = bytearray(out)
            i = self.rng.randrange(len(buf))
            buf[i] ^= 1 << self.rng.randrange(8)
            out = bytes(buf)
            self.counts["bitflip"] += 1
        if self.f.garbage and self.rng.random() < self.f.garbage:
            junk = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 24)))
            out = junk + out
            self.counts["garbage"] += 1
        return out


# -- the simulator loop ---------------------------------------------------------------
class Simulator:
    """Plays ``scenario`` through ``model`` over ``endpoint`` on ``clock`` time."""

    def __init__(
        self,
        model: DeviceModel,
        endpoint: Endpoint,
        scenario: Iterator[Reading],
        clock: Clock,
        faults: Faults = Faults(),
        on_open: Callable[[str], Any] | None = None,
    ) -> None:
        self.model = model
        self.endpoint = endpoint
        self.scenario = scenario
        self.clock = clock
        self.faults = faults
        self.on_open = on_open
        self.state = VitalState()
        self.corrupt = _Corrupter(faults, model)
        self.speed = float(getattr(clock, "speed", 1.0)) or 1.0
        self.frames_sent = 0
        self.bytes_dropped = 0
        self.polls_answered = 0
        self._pending: Reading | None = None
        self._requests = LineFramer(max_len=64)
        self._is_open = False
        self.path = ""

    def _open(self) -> None:
        self.path = self.endpoint.open()
        self._is_open = True
        log.info("device open at %s", self.path)
        if self.on_open is not None:
            self.on_open(self.path)

    def _close(self) -> None:
        self.endpoint.close()
        self._is_open = False
        self._requests.reset()
        log.info("device unplugged")

    def _send(self, frames: list[bytes]) -> None:
        for frame in frames:
            data = self.corrupt(frame)
            n = self.endpoint.write(data)
            self.bytes_dropped += len(data) - n
            self.frames_sent += 1

    def _advance_scenario(self, t: float) -> list[bytes]:
        out: list[bytes] = []
        while True:
            if self._pending is None:
                self._pending = next(self.scenario, None)
                if self._pending is None:
                    return out
            r = self._pending
            if r.time is not None and r.time > t:
                return out
            self._pending = None
            self.state.update(r)
            out += self.model.on_reading(self.state, r, t)

    def run(
        self, should_stop: Callable[[], bool] = lambda: False, duration: float | None = None
    ) -> None:
        """Run until ``should_stop()`` or ``duration`` simulated seconds have passed."""
        start = self.clock.now()
        period = self.model.period_s
        next_emit = start
        boundaries = [start + b for b in self.faults.boundaries()]
        self._open()
        try:
            while not should_stop():
                t = self.clock.now()
                elapsed = t - start
                if duration is not None and elapsed >= duration:
                    break
                unplugged = Faults.active(self.faults.unplug, elapsed)
                if unplugged and self._is_open:
                    self._close()
                elif not unplugged and not self._is_open:
                    self._open()
                silent = Faults.active(self.faults.silence, elapsed) or unplugged
                self.state.sensor_off = Faults.active(self.faults.sensor_off, elapsed)
                frames = self._advance_scenario(t)
                if period is not None:
                    burst = 0
                    while next_emit <= t and burst < 2000:
                        frames += self.model.emit(self.state, next_emit)
                        next_emit += period
                        burst += 1
                    if next_emit <= t:  # far behind (e.g. huge speed): skip, never spin
                        next_emit = t + period
                if not silent:
                    self._send(frames)
                wake = [x for x in boundaries if x > t]
                if self._pending is not None and self._pending.time is not None:
                    wake.append(self._pending.time)
                if period is not None:
                    wake.append(next_emit)
                if duration is not None:
                    wake.append(start + duration)
                timeout = 0.5 if not wake else max(0.0, (min(wake) - t) / self.speed)
                self._wait_and_answer(min(timeout, 0.5), silent)
        finally:
            if self._is_open:
                self.endpoint.close()
                self._is_open = False

    def _wait_and_answer(self, timeout: float, silent: bool) -> None:
        fds = self.endpoint.fds() if self._is_open else []
        if not fds:
            select.select([], [], [], timeout)
            return
        ready, _, _ = select.select(fds, [], [], timeout)
        for fd in ready:
            data = self.endpoint.readable(fd)
            if not data:
                continue
            receive = getattr(self.model, "receive", None)
            if receive is not None:  # a binary session protocol: raw bytes, not lines
                if not silent:
                    t = self.clock.now()
                    self._send(self._advance_scenario(t))
                    frames = receive(data, self.state, t)
                    if frames:
                        self.polls_answered += 1
                        self._send(frames)
                continue
            for line in self._requests.feed(data):
                if silent:
                    continue
                t = self.clock.now()
                self._send(self._advance_scenario(t))
                answer = self.model.answer(line, self.state, t)
                if answer:
                    self.polls_answered += 1
                    self._send(answer)


# -- capture playback -----------------------------------------------------------------
def replay_capture(
    chunks: Iterator[tuple[float, str, bytes]],
    endpoint: Endpoint,
    speed: float = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
    on_open: Callable[[str], Any] | None = None,
    linger_s: float = 0.5,
) -> int:
    """Write a capture's received (``rx``) chunks with their original timing. Bytes sent.

    The port stays open ``linger_s`` after the last chunk, then closes.
    """
    import time

    path = endpoint.open()
    if on_open is not None:
        on_open(path)
    sent = 0
    t0: float | None = None
    r0 = time.monotonic()
    try:
        for t, direction, data in chunks:
            if direction != "rx":
                continue
            if t0 is None:
                t0 = t
            due = r0 + (t - t0) / speed
            while not should_stop():
                left = due - time.monotonic()
                if left <= 0:
                    break
                fds = endpoint.fds()
                ready, _, _ = select.select(fds, [], [], min(left, 0.5))
                for fd in ready:
                    endpoint.readable(fd)  # polls are not answered: the capture has the answers
            if should_stop():
                break
            sent += endpoint.write(data)
        if not should_stop():
            time.sleep(linger_s)  # let a reader take the last bytes before "unplugging"
    finally:
        endpoint.close()
    return sent
