"""A Philips IntelliVue monitor, monitor side of the MIB/RS232 data export (for tests and demos).

Enough of the protocol (:mod:`drivers.intellivue`) for a host to associate,
answer the MDS Create Event Report, poll numerics and receive them:

- association request -> association response, then an MDS Create Event
  Report; polls are answered only once the host has sent the event result
  (as a real monitor, which ignores a host that never answers it);
- extended and single poll requests -> one poll reply with the current
  numerics (NIBP compound with its measurement time, SpO2, pleth pulse, PI;
  a signal the scenario has not produced yet is sent as FLOAT-Type NaN);
- release request -> release response; abort -> unassociated.

Values come from a *scenario*: an iterator of :class:`~edge.vocabulary.Reading`
in time order; each reading becomes current once the clock passes its time.
Reading flags map back to measurement state bits.

Faults: :meth:`IntelliVueMonitor.abort` (drops the association with an abort
frame), :meth:`~IntelliVueMonitor.release` (a release request),
:meth:`~IntelliVueMonitor.refuse_next` (refuses associations),
:meth:`~IntelliVueMonitor.corrupt_next` (frames with a bad FCS),
:meth:`~IntelliVueMonitor.silence` (no answers for a while).

Run it on a pseudo-terminal::

    python -m drivers.intellivue.simulator --link /tmp/intellivue --abort-every 60

then point the driver at ``/tmp/intellivue`` (115200 8N1).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import select
import signal
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import count
from typing import BinaryIO

from drivers.intellivue.codec import Malformed, relative_time
from drivers.intellivue.framing import FrameReader, corrupt_fcs, encode_frame
from drivers.intellivue.messages import (
    ABORT,
    REFUSE,
    RELEASE_REQUEST,
    RELEASE_RESPONSE,
    Message,
    Observation,
    PollRequest,
    association_response,
    mds_create_event,
    nibp_observation,
    numeric_observation,
    parse_message,
    poll_reply,
)
from drivers.intellivue.nomenclature import (
    DEFAULT_CONTEXT,
    MS_CALIBRATION_ONGOING,
    MS_INVALID,
    MS_MSMT_ONGOING,
    MS_QUESTIONABLE,
    NIBP_SIGNALS,
    NOM_ACT_POLL_MDIB_DATA_EXT,
    NOM_MOC_VMO_METRIC_NU,
    SIGNAL_PHYSIO,
)
from drivers.model import Model, VitalState
from edge.vocabulary import Flag, Reading

log = logging.getLogger(__name__)

#: reading flag -> measurement state bit (inverse of ``nomenclature.STATE_FLAGS``)
FLAG_STATES: Mapping[str, int] = {
    Flag.ARTIFACT: MS_INVALID,
    Flag.LOW_QUALITY: MS_QUESTIONABLE,
    Flag.SEARCHING: MS_CALIBRATION_ONGOING,
    Flag.UNSTABLE: MS_MSMT_ONGOING,
}
_HANDLES = {"nibp": 0x0101, "spo2": 0x0102, "pulse": 0x0103, "pi": 0x0104}


def _state(flags: Iterable[str]) -> int:
    state = 0
    for f in flags:
        state |= FLAG_STATES.get(f, 0)
    return state


class IntelliVueMonitor:
    """The monitor's side of the session as a pure object: bytes in -> bytes out."""

    def __init__(
        self,
        scenario: Iterable[Reading] = (),
        *,
        utc_offset_h: float = 0.0,
        context: int = DEFAULT_CONTEXT,
        start: float = 0.0,
        min_poll_period_s: float = 1.0,
    ) -> None:
        self._scenario: Iterator[Reading] = iter(scenario)
        self._pending: Reading | None = None
        self.values: dict[str, Reading] = {}
        self.utc_offset_h = utc_offset_h
        self.context = context
        self.start = start
        self.min_poll_period_s = min_poll_period_s
        self.state = "unassociated"
        self._frames = FrameReader()
        self.rejected = self._frames.rejected
        self._corrupt = 0
        self._refuse = 0
        self._silent_until = float("-inf")
        self._invoke = count(1)
        #: What the monitor saw, by message kind (assoc_request, poll_request, ...).
        self.received: dict[str, int] = {}

    # -- faults
    def abort(self) -> bytes:
        """Drop the association: an abort frame, then unassociated."""
        self.state = "unassociated"
        return self._frame(ABORT)

    def release(self) -> bytes:
        """End the association politely: a release request (the host answers it)."""
        self.state = "unassociated"
        return self._frame(RELEASE_REQUEST)

    def refuse_next(self, times: int = 1) -> None:
        """Refuse the next ``times`` association requests."""
        self._refuse += times

    def corrupt_next(self, frames: int = 1) -> None:
        """Send the next ``frames`` frames with a corrupt FCS."""
        self._corrupt += frames

    def silence(self, now: float, seconds: float) -> None:
        """Ignore everything and send nothing for ``seconds``."""
        self._silent_until = now + seconds

    # -- protocol
    def feed(self, data: bytes, now: float) -> bytes:
        return b"".join(self.feed_frames(data, now))

    def feed_frames(self, data: bytes, now: float) -> list[bytes]:
        """Like :meth:`feed`, one item per frame on the wire."""
        frames = self._frames.feed(data)
        if now < self._silent_until:
            return []
        out: list[bytes] = []
        for user_data in frames:
            try:
                msg = parse_message(user_data)
            except Malformed:
                self.rejected["malformed"] += 1
                continue
            self.received[msg.kind] = self.received.get(msg.kind, 0) + 1
            out += self._answer(msg, now)
        return out

    def on_timer(self, now: float) -> bytes:
        self._advance(now)
        return b""

    def _answer(self, msg: Message, now: float) -> list[bytes]:
        if msg.kind == "assoc_request":
            if self._refuse > 0:
                self._refuse -= 1
                self.state = "unassociated"
                return [self._frame(REFUSE)]
            self.state = "awaiting_result"
            return [
                self._frame(association_response(self.min_poll_period_s)),
                self._frame(mds_create_event(self.context, next(self._invoke), self._ticks(now))),
            ]
        if msg.kind == "event_result" and self.state == "awaiting_result":
            self.state = "operating"
        elif msg.kind == "poll_request" and msg.request is not None:
            if self.state != "operating":
                return []
            return [self._frame(self._reply(msg, msg.request, now))]
        elif msg.kind == "release_request":
            self.state = "unassociated"
            return [self._frame(RELEASE_RESPONSE)]
        elif msg.kind == "abort":
            self.state = "unassociated"
        return []

    def _reply(self, msg: Message, req: PollRequest, now: float) -> bytes:
        self._advance(now)
        observations = self.observations() if req.object_code == NOM_MOC_VMO_METRIC_NU else []
        return poll_reply(
            self.context,
            msg.invoke_id,
            req.poll_number,
            observations,
            rel_time=self._ticks(now),
            object_code=req.object_code,
            attr_group=req.attr_group,
            extended=req.action == NOM_ACT_POLL_MDIB_DATA_EXT,
        )

    def observations(self) -> list[Observation]:
        """The current numerics as polled objects."""
        v = self.values
        obs = []
        if "sbp" in v or "dbp" in v or "map" in v:
            nibp = [v.get(s) for s in NIBP_SIGNALS]
            first = next(r for r in nibp if r is not None)
            obs.append(
                nibp_observation(
                    _HANDLES["nibp"],
                    *(None if r is None else r.value for r in nibp),
                    state=_state(first.flags),
                    time=first.time,
                    utc_offset_h=self.utc_offset_h,
                )
            )
        for name in ("spo2", "pulse", "pi"):
            r = v.get(name)
            obs.append(
                numeric_observation(
                    _HANDLES[name],
                    name,
                    None if r is None else r.value,
                    state=0 if r is None else _state(r.flags),
                )
            )
        return obs

    def _advance(self, now: float) -> None:
        while True:
            if self._pending is None:
                self._pending = next(self._scenario, None)
                if self._pending is None:
                    return
            r = self._pending
            if r.time is not None and r.time > now:
                return
            if r.signal in SIGNAL_PHYSIO:
                self.values[r.signal] = r
            self._pending = None

    def _ticks(self, now: float) -> int:
        return relative_time(max(0.0, now - self.start))

    def _frame(self, user_data: bytes) -> bytes:
        corrupt = self._corrupt > 0
        if corrupt:
            self._corrupt -= 1
        return encode_frame(user_data, corrupt_fcs=corrupt)


class IntelliVueModel(Model):
    """The IntelliVue monitor as a device model for the simulator engine (:mod:`drivers.model`).

    The generic simulator frames host requests as text lines; IntelliVue is
    binary, so the simulator hands this model raw bytes through
    :meth:`receive` (the extra method it looks for). Values come from the
    simulator's ``VitalState`` (``values``, ``flags``, ``times``,
    ``sensor_off``); a sensor-off period sends NaN for every numeric.

    Options: ``abort_every`` (simulated seconds between dropped associations),
    ``utc_offset_h``, ``min_poll_period_s``.
    """

    #: The scenario signals this monitor measures.
    signals = frozenset(SIGNAL_PHYSIO)

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        super().__init__(options)
        opts = self.options
        self.abort_every_s = float(opts["abort_every"]) if opts.get("abort_every") else None
        self.monitor = IntelliVueMonitor(
            utc_offset_h=float(opts.get("utc_offset_h", 0.0)),
            min_poll_period_s=float(opts.get("min_poll_period_s", 1.0)),
        )
        self._started: float | None = None
        self._next_abort: float | None = None

    def bad_checksum(self, frame: bytes) -> bytes | None:
        return corrupt_fcs(frame)

    def receive(self, data: bytes, state: VitalState, t: float) -> list[bytes]:
        """Bytes from the host -> frames to send (one item per frame)."""
        if self._started is None:
            self._started = self.monitor.start = t
            if self.abort_every_s:
                self._next_abort = t + self.abort_every_s
        values: dict[str, Reading] = {}
        if not state.sensor_off:
            for signal, value in state.values.items():
                if signal in SIGNAL_PHYSIO:
                    values[signal] = Reading.of(
                        signal,
                        value,
                        time=state.times.get(signal),
                        flags=state.flags.get(signal, ()),
                    )
        self.monitor.values = values
        out: list[bytes] = []
        if self._next_abort is not None and self.abort_every_s and t >= self._next_abort:
            self._next_abort = t + self.abort_every_s
            log.info("fault: abort")
            out.append(self.monitor.abort())
        return out + self.monitor.feed_frames(data, t)


def serve(
    fd: int,
    monitor: IntelliVueMonitor,
    stop: threading.Event,
    now: Callable[[], float] = time.time,
    schedule: Callable[[IntelliVueMonitor, float], bytes] | None = None,
    tick_s: float = 0.02,
    capture: BinaryIO | None = None,
) -> None:
    """Serve ``monitor`` on a file descriptor (a pty master) until ``stop`` is set.

    ``schedule(monitor, now)`` runs every tick to inject faults; it returns
    bytes to send (e.g. ``monitor.abort()``). ``capture`` receives a copy of
    every byte sent to the host (a monitor-side capture for ``decode``).
    """
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], tick_s)
        t = now()
        out = bytearray()
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError as e:  # EIO: nobody has the other end open right now
                if e.errno != errno.EIO:
                    raise
                time.sleep(tick_s)
                data = b""
            if data:
                out += monitor.feed(data, t)
        out += monitor.on_timer(t)
        if schedule is not None:
            out += schedule(monitor, t)
        if out:
            _write_all(fd, bytes(out))
            if capture is not None:
                capture.write(bytes(out))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        view = view[n:]


def constant_scenario(
    start: float,
    *,
    sbp: float = 118,
    dbp: float = 76,
    mean: float = 90,
    spo2: float = 97,
    pulse: float = 72,
    pi: float = 2.4,
    nibp_every_s: float = 300.0,
    source: str = "intellivue-sim",
) -> Iterator[Reading]:
    """Steady vitals: SpO2/pulse/PI every second, an NIBP measurement every ``nibp_every_s``."""
    t = start
    next_nibp = start
    while True:
        if t >= next_nibp:
            for signal, value in (("sbp", sbp), ("dbp", dbp), ("map", mean)):
                yield Reading.of(signal, value, time=t, source=source)
            next_nibp += nibp_every_s
        for signal, value in (("spo2", spo2), ("pulse", pulse), ("pi", pi)):
            yield Reading.of(signal, value, time=t, source=source)
        t += 1.0


def fault_schedule(
    start: float,
    abort_every_s: float | None = None,
    corrupt_every_s: float | None = None,
    silence_at_s: float | None = None,
    silence_for_s: float = 15.0,
) -> Callable[[IntelliVueMonitor, float], bytes]:
    """Periodic faults relative to ``start``."""
    due = {
        "abort": None if abort_every_s is None else start + abort_every_s,
        "corrupt": None if corrupt_every_s is None else start + corrupt_every_s,
        "silence": None if silence_at_s is None else start + silence_at_s,
    }

    def run(monitor: IntelliVueMonitor, now: float) -> bytes:
        out = b""
        if due["abort"] is not None and now >= due["abort"] and abort_every_s:
            log.info("fault: abort")
            out += monitor.abort()
            due["abort"] = now + abort_every_s
        if due["corrupt"] is not None and now >= due["corrupt"] and corrupt_every_s:
            log.info("fault: corrupt FCS")
            monitor.corrupt_next()
            due["corrupt"] = now + corrupt_every_s
        if due["silence"] is not None and now >= due["silence"]:
            log.info("fault: silence for %.0f s", silence_for_s)
            monitor.silence(now, silence_for_s)
            due["silence"] = None
        return out

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--link", help="create this symlink to the device side of the pty")
    p.add_argument("--nibp-every", type=float, default=300.0, help="seconds between NIBP")
    p.add_argument("--abort-every", type=float, help="drop the association every N s")
    p.add_argument("--corrupt-every", type=float, help="corrupt one frame's FCS every N s")
    p.add_argument("--silence-at", type=float, help="go silent N s after start")
    p.add_argument("--silence-for", type=float, default=15.0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    if args.link:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(args.link)
        os.symlink(path, args.link)
    print(args.link or path, flush=True)
    start = time.time()
    monitor = IntelliVueMonitor(constant_scenario(start, nibp_every_s=args.nibp_every), start=start)
    schedule = fault_schedule(
        start, args.abort_every, args.corrupt_every, args.silence_at, args.silence_for
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        serve(master, monitor, stop, schedule=schedule)
    except KeyboardInterrupt:
        pass
    finally:
        if args.link:
            with contextlib.suppress(OSError):
                os.unlink(args.link)
        os.close(master)
        os.close(slave)
    return 0


if __name__ == "__main__":
    sys.exit(main())
