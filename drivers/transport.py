"""Keep one serial device connected: open, read, poll, reconnect, detect silence.

The transport is where bytes come from; the driver's decoder is what they mean
(``shared/docs/style.md``, pyserial's ``serial.threaded``). The runtime builds
on this API:

.. code-block:: python

    settings = SerialSettings(device_id="spo2", port="/dev/ttyUSB0")
    link = DeviceLink(settings, get_driver("masimo-ascii"), clock,
                      on_reading=queue.put, on_status=queue.put)
    link.start()          # its own daemon thread
    ...
    link.stop()           # returns within ~0.1 s (plus close), the port is closed

- ``settings``: :class:`SerialSettings`, defined here so the transport needs
  nothing of the app (the agent builds them from its device configuration:
  ``edge.config.serial_settings``). ``port`` is any pyserial URL
  (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``, ``socket://host:port``,
  ``rfc2217://host:port``, ``loop://``). Serial settings (baudrate, bytesize,
  parity, stopbits, xonxoff, rtscts) come from ``settings``, else the driver's
  defaults. ``settings.options`` go to the driver's decoder.
- ``clock``: any :class:`drivers.base.Clock` (``edge.clock`` clocks fit).
- ``on_reading(Reading)``: each decoded reading, with ``source = settings.device_id``.
  A reading whose frame has no time of its own is stamped ``clock.now()`` at
  receipt (the decoder is fed ``now=clock.now()``).
- ``on_status(DeviceStatus)``: transitions only. ``online=True`` when the
  device yields valid frames (the first one after start, and again after an
  offline report): a reading, or a valid frame without one (the decoder's
  ``frames`` count grows: dashes, sensor off, overload). Bytes are not
  enough. ``online=False`` when no byte has arrived for ``max_quiet_s``; or
  the bytes are garbage (a wrong baud rate): the decoder counted them in
  ``rejected`` and no valid frame followed for ``max_garbled_s`` (reason
  ``garbled: N bytes, no valid frame for X s``); or the port has been
  unavailable (cannot be opened, vanished, errors) for
  ``min(port_down_grace_s, max_quiet_s)``. ``reason`` says which, naming the
  last port error. The runtime maps these to ``device_offline`` /
  ``device_online`` technical alerts.
- Both callbacks run on the link's thread: keep them short (put on a queue).
  An exception in a callback is logged and does not stop the link.

Behaviour:
- Reads in chunks: it waits with ``select`` on the port's file descriptor (and
  a wake-up pipe for ``stop``), then after ``chunk_delay_s`` reads everything
  waiting. An idle device costs no CPU; a 75 frames/s Nonin costs at most
  1 / ``chunk_delay_s`` wake-ups per second. Ports without a file descriptor
  (``loop://``, ``rfc2217://``) use pyserial's own blocking read with a
  0.2 s timeout (five wake-ups a second while idle). Never ``readline``.
- Polled drivers (``spec.poll_command``): the command is written right after
  opening and then every ``settings.poll_interval_s`` (else the driver's
  ``poll_interval_s``) of *clock* time, so a sped-up demo clock polls faster.
- The effective maximum quiet time is ``settings.max_quiet_s``, else the
  driver's; for a polled device at least 2.5 poll intervals (in real seconds).
  ``None`` (a scale printing on demand): silence is normal.
- Garbage: ``max_garbled_s`` is the maximum quiet time, or ``port_down_grace_s``
  (5 s) for a device that may be silent (``None``): a scale's print is
  complete in well under a second, so a rejected print with no valid one for
  5 s is garbage, while a scale that says nothing is never garbled. Only
  bytes the decoder *rejects* start the timer (a partial frame waiting for
  its end does not), and any valid frame stops it, so sporadic corruption in
  a valid stream never reports the device. A garbled device stays connected
  (reopening the port would not change the baud rate): it is reported
  offline, and online again at its first valid frame.
- Reconnect: when opening fails, the port errors (an unplugged USB adapter
  raises ``SerialException``; a closed pty gives EIO; a closed socket EOF),
  or the device is silent for the quiet time, the port is closed and reopened
  after a capped exponential backoff (``backoff_initial_s`` doubling up to
  ``backoff_max_s``, real seconds; reset once data flows). It never
  busy-loops: every wait blocks. The decoder is kept across reconnects but
  ``reset()`` so partial frames are never joined across a gap.
- Quiet time and backoff are real (monotonic) seconds; the poll schedule and
  reading/status time stamps use ``clock``. A clock with a ``speed``
  attribute (such as ``edge.clock.ScaledClock``) has its waits scaled.
- ``on_bytes(direction, data, time)`` (optional) sees every byte received
  (``"rx"``) and every poll written (``"tx"``): ``capleak capture`` uses it.
- Session drivers (``spec.session``, e.g. IntelliVue, which must be
  associated with and polled): the link talks through the driver's
  :class:`drivers.base.Session` instead of ``poll_command``: ``reset()`` and
  a first ``on_timer`` right after opening, ``feed(data, monotonic, stamp=
  clock.now())`` for every chunk, ``on_timer`` at least every
  ``next_timer`` seconds, and ``close`` (a release) before a stop closes the
  port. Everything the session writes goes to ``on_bytes("tx", ...)`` too.
  Session timers run on real (monotonic) seconds: a sped-up demo clock never
  makes the link exceed a device's frame-rate limits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import serial

from drivers.base import Clock, DriverSpec
from edge.vocabulary import Reading

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """How to reach one device and what to override of its driver's defaults.

    ``None`` means "the driver's default" (:class:`drivers.base.DriverSpec`).
    """

    #: The device id: the ``source`` of its readings and the name in its statuses.
    device_id: str
    #: Any pyserial URL or device path.
    port: str
    baudrate: int | None = None
    bytesize: int | None = None
    parity: str | None = None
    stopbits: float | None = None
    xonxoff: bool = False
    rtscts: bool = False
    #: Poll period of a polled device, in clock seconds.
    poll_interval_s: float | None = None
    #: Silence before the device is reported offline, real seconds.
    max_quiet_s: float | None = None
    #: Driver-specific options, handed to its decoder (and session).
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device went online (data flows) or offline (silent / port unavailable)."""

    device_id: str
    online: bool
    time: float
    reason: str


class _Silent(Exception):
    """The open port delivered nothing for the quiet time."""


class DeviceLink:
    """One device's connection, on its own thread. See the module docstring."""

    def __init__(
        self,
        settings: SerialSettings,
        spec: DriverSpec,
        clock: Clock,
        on_reading: Callable[[Reading], Any],
        on_status: Callable[[DeviceStatus], Any],
        *,
        on_bytes: Callable[[str, bytes, float], Any] | None = None,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 1.0,
        chunk_delay_s: float = 0.05,
        port_down_grace_s: float = 5.0,
        read_size: int = 4096,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.clock = clock
        self.on_reading = on_reading
        self.on_status = on_status
        self.on_bytes = on_bytes
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.chunk_delay_s = chunk_delay_s
        self.read_size = read_size
        self.decoder = spec.decoder(settings.device_id, dict(settings.options))
        #: The driver's session when it must be talked to (``spec.session``), else None.
        self.session = (
            spec.session(settings.device_id, dict(settings.options))
            if spec.session is not None
            else None
        )
        self._speed = float(getattr(clock, "speed", 1.0)) or 1.0
        self.poll_command = spec.poll_command
        self.poll_interval_s = settings.poll_interval_s or spec.poll_interval_s
        quiet = settings.max_quiet_s if settings.max_quiet_s is not None else spec.max_quiet_s
        if quiet is not None and self.poll_command and self.poll_interval_s:
            quiet = max(quiet, 2.5 * self.poll_interval_s / self._speed)
        #: Effective maximum quiet time in real seconds (``None``: silence is normal).
        self.max_quiet_s: float | None = quiet
        self.port_down_grace_s = (
            port_down_grace_s if quiet is None else min(port_down_grace_s, quiet)
        )
        #: Garbage without a valid frame for this long (real seconds) reports offline.
        self.max_garbled_s: float = quiet if quiet is not None else self.port_down_grace_s
        #: ``None`` until the first transition, then the last reported state.
        self.online: bool | None = None
        self.reconnects = 0
        self.bytes_in = 0
        self.readings_out = 0
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        self._last_data = time.monotonic()
        self._port_down_since: float | None = None
        self._last_error = ""
        # Garbage tracking: what the decoder had counted at the last chunk, when it
        # first rejected bytes since the last valid frame, and the bytes since then.
        target = self.session if self.session is not None else self.decoder
        self._frames_seen: int | None = getattr(target, "frames", None)
        self._rejected_seen = target.rejected.total()
        self._garbage_since: float | None = None
        self._bytes_since_valid = 0

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> DeviceLink:
        if self._thread is not None:
            raise RuntimeError("DeviceLink already started")
        self._last_data = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name=f"link-{self.settings.device_id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the port; returns promptly."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- thread ------------------------------------------------------------------
    def _run(self) -> None:
        backoff = self.backoff_initial_s
        while not self._stopping.is_set():
            port = self._open()
            if port is not None:
                flowed = False
                try:
                    flowed = self._pump(port)
                except _Silent:
                    self._last_error = f"no data for {self.max_quiet_s:g} s"
                    log.info(
                        "%s: %s; reopening %s", self.settings.device_id, self._last_error, port.port
                    )
                except (serial.SerialException, OSError, ValueError) as e:
                    self._last_error = f"port error: {e}"
                    self._port_down_since = time.monotonic()
                    log.warning("%s: %s", self.settings.device_id, self._last_error)
                except Exception as e:  # a bug must not silently end this device's thread
                    self._last_error = f"internal error: {e!r}"
                    self._port_down_since = time.monotonic()
                    log.exception("%s: unexpected error; reconnecting", self.settings.device_id)
                finally:
                    with contextlib.suppress(Exception):
                        port.close()
                    reset = getattr(self.decoder, "reset", None)
                    if reset is not None:
                        reset()
                if flowed:
                    backoff = self.backoff_initial_s
            if self._stopping.is_set():
                break
            self.reconnects += 1
            self._wait(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)

    def _open(self) -> serial.SerialBase | None:
        d, s = self.settings, self.spec
        try:
            port = serial.serial_for_url(d.port, do_not_open=True)
            port.baudrate = d.baudrate or s.baudrate
            port.bytesize = d.bytesize or s.bytesize
            port.parity = d.parity or s.parity
            port.stopbits = d.stopbits or s.stopbits
            port.xonxoff = d.xonxoff
            port.rtscts = d.rtscts
            port.write_timeout = 1.0
            if "://" not in d.port:
                port.exclusive = True
            port.open()
        except (serial.SerialException, OSError, ValueError) as e:
            if self._port_down_since is None:
                self._port_down_since = time.monotonic()
            if self._last_error != f"cannot open: {e}":
                log.warning("%s: cannot open %s: %s", d.device_id, d.port, e)
            self._last_error = f"cannot open: {e}"
            self._check_offline()
            return None
        self._port_down_since = None
        log.info("%s: opened %s", d.device_id, d.port)
        return port

    def _pump(self, port: serial.SerialBase) -> bool:
        """Read and poll until stop, error or silence. True when data flowed."""
        try:
            fd: int | None = port.fileno()
        except Exception:
            fd = None
        port.timeout = 0 if fd is not None else 0.2
        opened = time.monotonic()
        flowed = False
        next_poll = self.clock.monotonic() if self.poll_command else None
        if self.session is not None:
            self.session.reset()
            self._session_write(port, self.session.on_timer(time.monotonic()))
        while not self._stopping.is_set():
            if next_poll is not None:
                cnow = self.clock.monotonic()
                if cnow >= next_poll:
                    self._poll(port)
                    interval = self.poll_interval_s or 1.0
                    next_poll = max(next_poll + interval, cnow + interval / 2)
            wait = self._next_wait(next_poll, opened)
            if self.session is not None:
                wait = min(wait, self.session.next_timer(time.monotonic()))
            data = self._read(port, fd, wait)
            real = time.monotonic()
            if data:
                flowed = True
                self._receive(data, real, port)
            elif self.max_quiet_s is not None and real - max(self._last_data, opened) > (
                self.max_quiet_s
            ):
                self._check_offline()
                raise _Silent
            if self.session is not None:
                self._session_write(port, self.session.on_timer(time.monotonic()))
            self._check_offline()
        if self.session is not None:  # stopping: release the association
            with contextlib.suppress(serial.SerialException, OSError):
                self._session_write(port, self.session.close(time.monotonic()))
                port.flush()
        return flowed

    def _next_wait(self, next_poll: float | None, opened: float) -> float:
        wait = 1.0
        if next_poll is not None:
            wait = min(wait, max(0.0, (next_poll - self.clock.monotonic()) / self._speed))
        if self.max_quiet_s is not None:
            due = max(self._last_data, opened) + self.max_quiet_s - time.monotonic()
            wait = min(wait, max(0.0, due) + 0.01)
        if self._garbage_since is not None and self.online is not False:
            due = self._garbage_since + self.max_garbled_s - time.monotonic()
            wait = min(wait, max(0.0, due) + 0.01)
        return wait

    def _read(self, port: serial.SerialBase, fd: int | None, wait: float) -> bytes:
        if fd is None:
            # port.timeout stays 0.2 s: setting it reconfigures the port, which on
            # rfc2217:// sends the serial settings to the server every time.
            data = port.read(1)
            if data and port.in_waiting:
                data += port.read(port.in_waiting)
            return data
        ready, _, _ = select.select([fd, self._wake_r], [], [], wait)
        if fd not in ready:
            return b""
        if self.chunk_delay_s > 0:
            select.select([self._wake_r], [], [], self.chunk_delay_s)
        return port.read(self.read_size)

    def _poll(self, port: serial.SerialBase) -> None:
        assert self.poll_command is not None
        port.write(self.poll_command)
        if self.on_bytes is not None:
            self._call(self.on_bytes, "tx", self.poll_command, self.clock.now())

    def _session_write(self, port: serial.SerialBase, data: bytes) -> None:
        if not data:
            return
        port.write(data)
        if self.on_bytes is not None:
            self._call(self.on_bytes, "tx", data, self.clock.now())

    def _receive(self, data: bytes, real: float, port: serial.SerialBase | None = None) -> None:
        self._last_data = real
        self.bytes_in += len(data)
        now = self.clock.now()
        if self.on_bytes is not None:
            self._call(self.on_bytes, "rx", data, now)
        out = b""
        target = self.session if self.session is not None else self.decoder
        try:
            if self.session is not None:
                readings, out = self.session.feed(data, real, stamp=now)
            else:
                readings = self.decoder.feed(data, now=now)
        except Exception:  # a decoder must never raise; if one does, lose this chunk only
            log.exception("%s: decoder failed on %d bytes", self.settings.device_id, len(data))
            target.rejected["decoder_error"] += 1
            reset = getattr(target, "reset", None)
            if reset is not None:
                reset()
            self._judge(target, False, len(data), real, now)
            return
        self._judge(target, bool(readings), len(data), real, now)
        if port is not None:
            self._session_write(port, out)  # port errors propagate: they mean reconnect
        for reading in readings:
            self.readings_out += 1
            self._call(self.on_reading, reading.stamped(now))

    def _judge(self, target: Any, readings: bool, size: int, real: float, now: float) -> None:
        """Valid frames (readings, or ``frames`` grew) or garbage (``rejected`` grew)?"""
        frames = getattr(target, "frames", None)
        rejected = target.rejected.total()
        valid = readings or (frames is not None and frames != self._frames_seen)
        garbage = rejected > self._rejected_seen
        self._frames_seen, self._rejected_seen = frames, rejected
        if valid:
            self._garbage_since = None
            self._bytes_since_valid = 0
            if self.online is not True:
                again = self.online is False
                self._status(True, now, "valid frames again" if again else "valid frames")
            return
        self._bytes_since_valid += size
        if garbage and self._garbage_since is None:
            self._garbage_since = real

    def _offline_due(self) -> float | None:
        """The real (monotonic) time at which offline is due, if it is not reported yet."""
        if self.online is False:
            return None
        due = []
        if self.max_quiet_s is not None:
            due.append(self._last_data + self.max_quiet_s)
        if self._port_down_since is not None:
            due.append(self._port_down_since + self.port_down_grace_s)
        if self._garbage_since is not None:
            due.append(self._garbage_since + self.max_garbled_s)
        return min(due) if due else None

    def _check_offline(self) -> None:
        if self.online is False:
            return
        real = time.monotonic()
        if self.max_quiet_s is not None and real - self._last_data > self.max_quiet_s:
            reason = f"no data for {self.max_quiet_s:g} s"
            if self._last_error and self._port_down_since is not None:
                reason += f" ({self._last_error})"
            self._status(False, self.clock.now(), reason)
        elif self._garbage_since is not None and real - self._garbage_since > self.max_garbled_s:
            reason = (
                f"garbled: {self._bytes_since_valid} bytes, "
                f"no valid frame for {self.max_garbled_s:g} s"
            )
            self._status(False, self.clock.now(), reason)
        elif (
            self._port_down_since is not None
            and real - self._port_down_since > self.port_down_grace_s
        ):
            self._status(False, self.clock.now(), self._last_error or "port unavailable")

    def _wait(self, seconds: float) -> None:
        """Block for ``seconds`` (real), waking to report offline on time or to stop."""
        end = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            due = self._offline_due()
            step = left if due is None else min(left, max(0.0, due - time.monotonic()) + 0.005)
            select.select([self._wake_r], [], [], step)
            self._check_offline()

    def _status(self, online: bool, now: float, reason: str) -> None:
        self.online = online
        log.log(
            logging.INFO if online else logging.WARNING,
            "%s %s: %s",
            self.settings.device_id,
            "online" if online else "offline",
            reason,
        )
        self._call(self.on_status, DeviceStatus(self.settings.device_id, online, now, reason))

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("%s: callback %r failed", self.settings.device_id, fn)
