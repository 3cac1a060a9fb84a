"""What every driver provides: a decoder factory, its signals, a sample frame, a simulator
model and serial defaults (:class:`DriverSpec`); and the clock the transport and the
simulator run on (:class:`Clock`), defined here so drivers need nothing of ``edge`` but the
vocabulary (``shared/docs/style.md``, dependency direction)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.model import ModelFactory
from edge.vocabulary import SIGNALS, Reading


class Clock(Protocol):
    """The time source the transport and the simulator engine take.

    Structural: :class:`edge.clock.SystemClock`, ``ScaledClock``,
    ``SharedScaledClock`` and ``ManualClock`` all satisfy it. A clock may also
    have a ``speed`` attribute (simulated seconds per real second), which the
    transport and the simulator read with ``getattr`` to scale their waits.
    """

    def now(self) -> float:
        """UTC epoch seconds."""
        ...

    def monotonic(self) -> float:
        """A monotonic reading in this clock's seconds (poll schedules)."""
        ...


class Decoder(Protocol):
    """An incremental, pure decoder.

    ``feed`` takes bytes in any chunking and returns the readings completed by
    them. ``now`` is the receive time (epoch seconds) used for readings whose
    frame carries no time of its own; with ``now=None`` such readings keep
    ``time=None``. Garbage never raises: it is skipped and counted in
    ``rejected`` by reason (e.g. ``{"checksum": 2}``): ``rejected`` counts
    corrupt input only, never valid frames that carry no value (dashes,
    overload).

    Decoders in this package also count ``frames``: valid frames decoded, with
    or without a reading (a dashes line, a sensor-off packet, an overload
    print). The transport takes a growing ``frames`` (or any reading) as the
    device's sign of life and bytes that grow only ``rejected`` as garbage
    (``drivers.transport``: a device is online only while it yields valid
    frames). It is optional for other implementations (readings count then).

    Decoders in this package also have ``reset()``: forget partial frames (the
    transport calls it after a reconnect, so bytes from before a gap are never
    joined to bytes after it). It is optional for other implementations.
    """

    rejected: Counter[str]

    def feed(self, data: bytes, now: float | None = None) -> list[Reading]: ...


class Session(Protocol):
    """A device that must be talked to (a session protocol such as IntelliVue).

    Pure, like a decoder: the transport writes what the methods return.
    ``now`` is real (monotonic) seconds for the session's timers; ``stamp`` is
    the clock's epoch time for readings without their own time.
    ``feed(data, now, stamp)`` -> (readings, bytes to write); ``on_timer(now)`` ->
    bytes to write, called at least every ``next_timer(now)`` seconds;
    ``reset()`` after (re)opening the port; ``close(now)`` -> bytes to write
    before closing it. ``associated`` is True while data can flow. ``frames``
    (optional, as for a decoder) counts valid messages received.
    """

    rejected: Counter[str]

    @property
    def associated(self) -> bool: ...

    def feed(
        self, data: bytes, now: float, stamp: float | None = None
    ) -> tuple[list[Reading], bytes]: ...

    def on_timer(self, now: float) -> bytes: ...

    def next_timer(self, now: float) -> float: ...

    def reset(self) -> None: ...

    def close(self, now: float) -> bytes: ...


@dataclass(frozen=True, slots=True)
class DriverSpec:
    """A registry entry: how to talk to one kind of device.

    ``signals``, ``sample_frame`` and ``model`` are what the generic driver
    tests run on (``tests/drivers/test_fuzz.py``, ``test_model.py``), so a new
    driver is tested by declaring them.
    """

    name: str
    description: str
    #: ``decoder(source, options)`` builds a fresh decoder; ``source`` is the device id.
    decoder: Callable[[str, Mapping[str, Any]], Decoder]
    #: Every signal (``edge.vocabulary.SIGNALS``) the decoder can emit.
    signals: tuple[str, ...]
    #: One frame in the real format, from the module's protocol notes, that decodes
    #: to at least one reading (for a polled device: one answer).
    sample_frame: bytes
    #: ``model(options)`` builds the device's simulator model (:mod:`drivers.model`).
    model: ModelFactory
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    #: Silence longer than this raises ``device_offline`` (OpenICE uses 1.1 s for
    #: a Radical-7, 3 s for Nonin: ``shared/docs/protocols.md``). ``None``: silence
    #: is normal for this device (a scale that prints only when weighing); the
    #: transport then reports offline only when the port itself is unavailable.
    max_quiet_s: float | None = 5.0
    #: Bytes written to poll a polled device, and how often (None: it streams).
    poll_command: bytes | None = None
    poll_interval_s: float | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    #: ``session(source, options)`` for devices that must be talked to: live
    #: links drive the session instead of ``poll_command``; ``decoder`` stays
    #: the passive decoder for captured streams (``capleak decode``).
    session: Callable[[str, Mapping[str, Any]], Session] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.signals) - set(SIGNALS)
        if unknown or not self.signals:
            raise ValueError(f"driver {self.name}: signals must be known, got {self.signals}")
