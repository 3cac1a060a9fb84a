"""Device simulators: every driver's protocol, spoken over a real pty, a path or TCP.

A simulator plays a *scenario* (:mod:`drivers.scenario`: an iterator of
Readings in time order) the way the real device would, using the driver's own
encoder (python-can's ``virtual`` interface and player, ``shared/docs/style.md``):

- ``masimo-ascii``: one ASCII 1 line per second with the latest SpO2, pulse
  and PI (dashes for signals the scenario does not have); flags become EXC bits.
- ``nonin-df2`` / ``nonin-df7``: 75 frames/s, one 25-frame packet per second;
  ``nonin-df1``: one 3-byte frame per second.
- ``accutorr``: answers each ``P`` poll; a scenario ``sbp`` reading is a new
  NIBP measurement, and the minutes field counts from its time. SaO2/PR are
  ``--`` unless the model option ``spo2`` is set (``--option spo2=1``).
- ``ad-scale``: prints one line per scenario ``weight`` reading (``US`` when it
  carries ``unstable``).
- ``mt-sics``: answers each ``S``/``SI`` poll with the latest weight (``S I``
  before the first one or while the sensor is off).
- ``intellivue``: a Philips IntelliVue monitor's data export session
  (:class:`drivers.intellivue_sim.IntelliVueModel`): association, MDS Create
  Event Report, poll replies with NIBP/SpO2/pulse/PI; ``--option
  abort_every=SECONDS`` drops the association periodically; ``--bad-checksum``
  spoils frame FCSs. A model with a ``receive(data, state, t)`` method gets
  the host's raw bytes instead of text lines (binary session protocols).
- ``nellcor-n595``: a data line every 2 s, headings every 25 lines; flags
  become status codes (SD, SO, MO, PS).

Ports (:func:`open_endpoint`): ``pty`` creates a pseudo-terminal (the device
end is its slave path, which the agent opens; the simulator holds the master),
optionally behind a stable symlink (``link``) that is re-pointed at every
replug, because a new pty gets a new path; a ``PATH`` (a serial device or one
end of a ``socat`` pair) is opened read/write; ``socket://HOST:PORT`` listens
as a TCP server (a serial device server) with one connection slot.

Time: the simulator runs on an injected :class:`edge.clock.Clock`; with
:class:`edge.clock.ScaledClock` (``--speed N``) a day passes in 24/N hours and
frame times (Masimo's date-time, the Accutorr minutes) are simulated time.

Faults (:class:`Faults`), windows in seconds of simulated time from the start:
garbage bursts, single bit flips and checksum errors (per-frame
probabilities, seeded), sensor-off periods (the device reports its
sensor-off state), silence (nothing sent, polls unanswered) and unplug/replug
(the port is closed and reopened: a new pty, a new TCP listener).

Nothing in the live data path imports this module.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import select
import socket
import termios
import tty
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from drivers import (
    accutorr,
    ad_scale,
    masimo_ascii,
    mt_sics,
    nellcor_n595,
    nonin_df1,
    nonin_df2,
    nonin_df7,
)
from drivers.framing import LineFramer
from drivers.intellivue_sim import IntelliVueModel
from edge.clock import Clock
from edge.vocabulary import Flag, Reading

log = logging.getLogger(__name__)


# -- what the simulated patient looks like right now -----------------------------------
@dataclass(slots=True)
class VitalState:
    """The latest scenario value (and flags) of each signal."""

    values: dict[str, float] = field(default_factory=dict)
    flags: dict[str, frozenset[str]] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    sensor_off: bool = False

    def update(self, r: Reading) -> None:
        self.values[r.signal] = r.value
        self.flags[r.signal] = r.flags
        self.times[r.signal] = r.time if r.time is not None else 0.0

    def get(self, signal: str) -> float | None:
        return None if self.sensor_off else self.values.get(signal)

    #: Flags of a signal the scenario stopped updating expire this long (simulated
    #: seconds) after the device's freshest signal: a scenario that sends PI only
    #: while the sensor is off must not leave the device "sensor off" forever.
    flag_ttl_s: ClassVar[float] = 5.0

    def all_flags(self, *signals: str) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        known = [s for s in signals if s in self.times]
        newest = max((self.times[s] for s in known), default=0.0)
        for s in known:
            if self.times[s] >= newest - self.flag_ttl_s:
                out |= self.flags.get(s, frozenset())
        if self.sensor_off:
            out |= {Flag.SENSOR_OFF.value}
        return out


# -- device models: state -> the device's bytes ---------------------------------------
class DeviceModel(Protocol):
    #: Emission period in simulated seconds (None: the device only answers/prints).
    period_s: float | None
    #: The scenario signals this device measures.
    signals: frozenset[str]

    def emit(self, state: VitalState, t: float) -> list[bytes]:
        """Frames to send at ``t`` (periodic devices)."""
        ...

    def on_reading(self, state: VitalState, r: Reading, t: float) -> list[bytes]:
        """Frames to send because the scenario produced ``r`` (printing devices)."""
        ...

    def answer(self, request: bytes, state: VitalState, t: float) -> list[bytes]:
        """Frames answering one host request line (polled devices)."""
        ...

    def bad_checksum(self, frame: bytes) -> bytes | None:
        """``frame`` with a wrong checksum, or None when the protocol has none."""
        ...


class _Model:
    period_s: float | None = None
    signals: frozenset[str] = frozenset()

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self.options = dict(options or {})

    def emit(self, state: VitalState, t: float) -> list[bytes]:
        return []

    def on_reading(self, state: VitalState, r: Reading, t: float) -> list[bytes]:
        return []

    def answer(self, request: bytes, state: VitalState, t: float) -> list[bytes]:
        return []

    def bad_checksum(self, frame: bytes) -> bytes | None:
        return None


_EXC_OF_FLAG = {
    Flag.NO_SENSOR: 0x000001,
    Flag.LOW_PERFUSION: 0x000004,
    Flag.SEARCHING: 0x000008,
    Flag.ARTIFACT: 0x000010,
    Flag.SENSOR_OFF: 0x000020,
    Flag.LOW_QUALITY: 0x000400,
}


def _round(v: float | None) -> int | None:
    return None if v is None else math.floor(v + 0.5)


class MasimoModel(_Model):
    period_s = 1.0
    signals = frozenset({"spo2", "pulse", "pi"})

    def emit(self, state: VitalState, t: float) -> list[bytes]:
        exc = 0x000800
        for flag in state.all_flags("spo2", "pulse", "pi"):
            exc |= _EXC_OF_FLAG.get(flag, 0)  # type: ignore[call-overload]
        pi = state.get("pi")
        sample = masimo_ascii.MasimoSample(
            time=math.floor(t),
            spo2=_round(state.get("spo2")),
            pulse=_round(state.get("pulse")),
            pi=None if pi is None else round(min(max(pi, 0.0), 30.0), 2),
            exc=exc,
        )
        return [masimo_ascii.encode(sample)]


class NoninModel(_Model):
    period_s = 1.0 / 75.0
    signals = frozenset({"spo2", "pulse"})
    _encode = staticmethod(nonin_df2.encode_frames)
    _mid = 128  # 8-bit pleth

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        super().__init__(options)
        self._frames: list[bytes] = []

    def emit(self, state: VitalState, t: float) -> list[bytes]:
        if not self._frames:
            flags = state.all_flags("spo2", "pulse") - {Flag.UNSTABLE, Flag.OVERLOAD}
            spo2, pulse = _round(state.get("spo2")), _round(state.get("pulse"))
            sample = nonin_df2.NoninSample(
                None if spo2 is None else min(max(spo2, 0), 100),
                None if pulse is None else min(max(pulse, 0), 400),
                frozenset(flags),
            )
            k = int(t * 75)
            wave = [math.sin(2 * math.pi * (k + i) / 60) for i in range(25)]
            self._frames = self._encode(sample, [int(self._mid * (1 + 0.4 * w)) for w in wave])
        return [self._frames.pop(0)]

    def bad_checksum(self, frame: bytes) -> bytes | None:
        return frame[:-1] + bytes(((frame[-1] + 1) & 0xFF,))


class NoninDf1Model(_Model):
    period_s = 1.0
    signals = frozenset({"spo2", "pulse"})

    def emit(self, state: VitalState, t: float) -> list[bytes]:
        spo2, pulse = _round(state.get("spo2")), _round(state.get("pulse"))
        sample = nonin_df2.NoninSample(
            None if spo2 is None else min(max(spo2, 0), 100),
            None if pulse is None else min(max(pulse, 0), 400),
            state.all_flags("spo2", "pulse"),
        )
        return [nonin_df1.encode(sample)]


class NoninDf7Model(NoninModel):
    _encode = staticmethod(nonin_df7.encode_frames)
    _mid = 0x8000  # 16-bit pleth


class AccutorrModel(_Model):
    signals = frozenset({"sbp", "map", "dbp", "spo2", "pulse"})

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        super().__init__(options)
        self.with_spo2 = self.options.get("spo2", "0") not in ("0", "false", "no", "")
        self.nibp: tuple[float, int | None, int | None, int | None] | None = None

    def on_reading(self, state: VitalState, r: Reading, t: float) -> list[bytes]:
        if r.signal in ("sbp", "map", "dbp") and not state.sensor_off and r.time is not None:
            old = self.nibp if self.nibp is not None and self.nibp[0] == r.time else None
            vals = list(old[1:]) if old else [None, None, None]
            vals[("sbp", "map", "dbp").index(r.signal)] = _round(r.value)
            self.nibp = (r.time, vals[0], vals[1], vals[2])
        return []

    def answer(self, request: bytes, state: VitalState, t: float) -> list[bytes]:
        if not request.strip().upper().startswith(b"P"):
            return []
        spo2 = _round(state.get("spo2")) if self.with_spo2 else None
        pulse = _round(state.get("pulse")) if self.with_spo2 else None
        if self.nibp is None:
            a = accutorr.AccutorrAnswer(spo2, pulse, None, None, None, None, (0, 0, 0))
        else:
            when, sbp, mean, dbp = self.nibp
            minutes = max(0, int((t - when) // 60))
            a = accutorr.AccutorrAnswer(spo2, pulse, sbp, mean, dbp, min(minutes, 9999))
        return [accutorr.encode(a)]


class AdScaleModel(_Model):
    signals = frozenset({"weight"})

    def on_reading(self, state: VitalState, r: Reading, t: float) -> list[bytes]:
        if r.signal != "weight" or state.sensor_off:
            return []
        line = ad_scale.ScaleLine(
            round(r.value, 2), stable=Flag.UNSTABLE not in r.flags, unit="kg", decimals=2
        )
        return [ad_scale.encode(line)]


class MtSicsModel(_Model):
    signals = frozenset({"weight"})

    def answer(self, request: bytes, state: VitalState, t: float) -> list[bytes]:
        cmd = request.strip().upper()
        if cmd not in (b"S", b"SI"):
            return [b"ES\r\n"] if cmd else []
        weight = state.get("weight")
        if weight is None:
            return [mt_sics.encode(mt_sics.SicsAnswer("I"))]
        status = "D" if Flag.UNSTABLE in state.flags.get("weight", ()) else "S"
        return [mt_sics.encode(mt_sics.SicsAnswer(status, round(weight, 2)))]


class NellcorModel(_Model):
    period_s = 2.0
    signals = frozenset({"spo2", "pulse"})

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        super().__init__(options)
        self._lines = 0

    def emit(self, state: VitalState, t: float) -> list[bytes]:
        out = [nellcor_n595.encode_heading()] if self._lines % 25 == 0 else []
        self._lines += 1
        spo2, pulse = _round(state.get("spo2")), _round(state.get("pulse"))
        line = nellcor_n595.NellcorLine(
            time=math.floor(t),
            spo2=None if spo2 is None else min(max(spo2, 0), 100),
            pulse=None if pulse is None else min(max(pulse, 0), 400),
            pa=None if spo2 is None else 120,
            status=nellcor_n595.status_for(state.all_flags("spo2", "pulse")),
        )
        return [*out, nellcor_n595.encode(line)]


MODELS: Mapping[str, Callable[[Mapping[str, str]], DeviceModel]] = {
    "masimo-ascii": MasimoModel,
    "nonin-df1": NoninDf1Model,
    "nonin-df2": NoninModel,
    "nonin-df7": NoninDf7Model,
    "accutorr": AccutorrModel,
    "ad-scale": AdScaleModel,
    "mt-sics": MtSicsModel,
    "intellivue": IntelliVueModel,
    "nellcor-n595": NellcorModel,
}


def make_model(driver: str, options: Mapping[str, str] | None = None) -> DeviceModel:
    try:
        factory = MODELS[driver]
    except KeyError:
        raise ValueError(f"no simulator for driver {driver!r}; known: {sorted(MODELS)}") from None
    return factory(options or {})


# -- endpoints: where the bytes go ----------------------------------------------------
class Endpoint(Protocol):
    def open(self) -> str: ...
    def close(self) -> None: ...
    def fds(self) -> list[int]: ...
    def readable(self, fd: int) -> bytes: ...
    def write(self, data: bytes) -> int: ...


def _raw(fd: int) -> None:
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class PtyEndpoint:
    """A fresh pseudo-terminal per ``open()``; ``link`` is re-pointed to it."""

    def __init__(self, link: str | None = None) -> None:
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.path = ""

    def open(self) -> str:
        if self.link and os.path.lexists(self.link) and not os.path.islink(self.link):
            raise ValueError(f"--link {self.link} exists and is not a symlink: not replacing it")
        self.master, self.slave = os.openpty()
        _raw(self.slave)  # the simulator keeps the slave open: no EIO while nobody listens
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        if self.link:
            tmp = f"{self.link}.tmp{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)
        return self.path

    def close(self) -> None:
        if self.link and os.path.islink(self.link) and os.readlink(self.link) == self.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)  # only our own link: never someone else's file
        for fd in (self.master, self.slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.slave = None

    def fds(self) -> list[int]:
        return [] if self.master is None else [self.master]

    def readable(self, fd: int) -> bytes:
        try:
            return os.read(fd, 4096)
        except (BlockingIOError, OSError):
            return b""

    def write(self, data: bytes) -> int:
        if self.master is None:
            return 0
        try:
            return os.write(self.master, data)
        except (BlockingIOError, OSError):
            return 0  # nobody reads: a real device does not wait either


class PathEndpoint(PtyEndpoint):
    """An existing serial device or pty path, opened read/write."""

    def __init__(self, path: str) -> None:
        super().__init__(None)
        self.target = path

    def open(self) -> str:
        fd = os.open(self.target, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        if os.isatty(fd):
            _raw(fd)
        self.master, self.path = fd, self.target
        return self.path


class SocketEndpoint:
    """A TCP server (like a serial device server) with one connection slot.

    A second client is accepted and closed at once while the first is connected.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.server: socket.socket | None = None
        self.client: socket.socket | None = None

    def open(self) -> str:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(1)
        s.setblocking(False)
        self.server = s
        self.port = s.getsockname()[1]
        return f"socket://{self.host}:{self.port}"

    def close(self) -> None:
        for s in (self.client, self.server):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        self.client = self.server = None

    def fds(self) -> list[int]:
        return [s.fileno() for s in (self.server, self.client) if s is not None]

    def readable(self, fd: int) -> bytes:
        if self.server is not None and fd == self.server.fileno():
            try:
                conn, addr = self.server.accept()
            except OSError:
                return b""
            if self.client is not None:
                conn.close()  # busy: like a device server with one connection slot
                log.info("refused a second client %s:%s", *addr[:2])
                return b""
            conn.setblocking(False)
            self.client = conn
            log.info("client %s:%s connected", *addr[:2])
            return b""
        if self.client is None:
            return b""
        try:
            data = self.client.recv(4096)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            self.client.close()
            self.client = None
        return data

    def write(self, data: bytes) -> int:
        if self.client is None:
            return 0
        try:
            return self.client.send(data)
        except BlockingIOError:
            return 0
        except OSError:
            self.client.close()
            self.client = None
            return 0


def open_endpoint(port: str, link: str | None = None) -> Endpoint:
    """``pty``, ``socket://HOST:PORT`` or a path."""
    if port == "pty":
        return PtyEndpoint(link)
    if port.startswith("socket://"):
        host, _, num = port[len("socket://") :].rpartition(":")
        if not num.isdigit():
            raise ValueError(f"bad socket URL {port!r}: use socket://HOST:PORT")
        return SocketEndpoint(host or "127.0.0.1", int(num))
    if "://" in port:
        raise ValueError(f"the simulator serves pty, a PATH or socket://HOST:PORT, not {port!r}")
    return PathEndpoint(port)


# -- faults ---------------------------------------------------------------------------
Window = tuple[float, float]  # (start offset, duration), simulated seconds


def parse_window(text: str) -> Window:
    """``AT+DURATION``, e.g. ``30s+20s`` or ``2h+5m``.

    >>> parse_window("1m+30s")
    (60.0, 30.0)
    """
    from drivers.scenario import parse_duration

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
