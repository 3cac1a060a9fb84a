"""What a simulated device model is: the patient's current state in, the device's bytes out.

Each driver module holds its device's model next to its encoder (one device =
one module, ``shared/docs/style.md``, rtl_433) and names it in its
:class:`drivers.base.DriverSpec` (``model``). The engine that plays a model over
a pty, a path or TCP (:mod:`drivers.simulator`) finds it through the registry.
This module holds only the small pieces every model shares: the
:class:`VitalState` it reads, the :class:`DeviceModel` protocol the engine
calls, and :class:`Model`, a base that does nothing for the calls a device
does not answer.

Nothing in the live data path calls a model; decoders never import this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from edge.vocabulary import Flag, Reading


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


class DeviceModel(Protocol):
    """A device's behaviour, as the simulator engine drives it.

    A model for a binary session protocol (IntelliVue) also has
    ``receive(data, state, t) -> list[bytes]``: the engine then hands it the
    host's raw bytes instead of text lines.
    """

    @property
    def period_s(self) -> float | None:
        """Emission period in simulated seconds (None: the device only answers/prints)."""
        ...

    @property
    def signals(self) -> frozenset[str]:
        """The scenario signals this device measures."""
        ...

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


#: ``model(options)`` builds a fresh model; ``options`` are ``--option KEY=VALUE`` pairs.
ModelFactory = Callable[[Mapping[str, str]], DeviceModel]


class Model:
    """Base of the device models: a device that sends nothing unless a subclass says so."""

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


def round_half_up(v: float | None) -> int | None:
    """A device's integer display of ``v`` (halves up), ``None`` kept.

    >>> round_half_up(96.5), round_half_up(71.2), round_half_up(None)
    (97, 71, None)
    """
    return None if v is None else math.floor(v + 0.5)


def clamp(v: int | None, lo: int, hi: int) -> int | None:
    """``v`` limited to ``lo..hi`` (``None`` kept): what a device can display.

    >>> clamp(104, 0, 100), clamp(None, 0, 100)
    (100, None)
    """
    return None if v is None else min(max(v, lo), hi)
