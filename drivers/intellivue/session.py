"""The IntelliVue host session and the passive decoder: poll replies -> readings.

:class:`IntelliVueSession` is the host side of the data export session as a
pure state machine (association, MDS create result, polls, keep-alive,
release/abort, re-association; the steps are in :mod:`drivers.intellivue`).
:class:`IntelliVueDecoder` decodes a captured monitor byte stream offline.
Both turn poll replies into readings through :class:`NumericExtractor`.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

from drivers.intellivue.codec import Malformed, decode_abs_time, decode_float
from drivers.intellivue.framing import FrameReader, encode_frame
from drivers.intellivue.messages import (
    ABORT,
    RELEASE_REQUEST,
    RELEASE_RESPONSE,
    Message,
    PollReply,
    association_request,
    extended_poll_request,
    keepalive_request,
    mds_create_result,
    nu_values,
    parse_message,
    parse_min_poll_period,
)
from drivers.intellivue.nomenclature import (
    DEFAULT_CONTEXT,
    MS_DEMO_DATA,
    MS_TEST_DATA,
    MS_UNAVAILABLE,
    NIBP_SIGNALS,
    NOM_ATTR_TIME_STAMP_ABS,
    NOM_ATTR_TIME_STAMP_REL,
    PHYSIO_SIGNALS,
    RANGES,
    UNIT_FACTORS,
    flags_from_state,
)
from edge.vocabulary import Reading

log = logging.getLogger("drivers.intellivue")  # the name its log lines always had


class NumericExtractor:
    """Poll replies -> readings, with NIBP emitted once per measurement."""

    def __init__(
        self, source: str, options: Mapping[str, Any], rejected: Counter[str] | None = None
    ) -> None:
        self.source = source
        self.utc_offset_h = _number(options, "utc_offset_h", 0.0)
        if not -14 <= self.utc_offset_h <= 14:
            raise ValueError(
                f"intellivue option utc_offset_h must be -14..14, got {self.utc_offset_h}"
            )
        self.accept_demo_data = _bool(options.get("accept_demo_data", False))
        self.rejected: Counter[str] = Counter() if rejected is None else rejected
        #: Valid values deliberately not turned into readings (demo/test data).
        self.skipped: Counter[str] = Counter()
        self._last_nibp: tuple[Any, ...] | None = None
        self._warned_demo = False

    def readings(self, reply: PollReply, now: float | None) -> list[Reading]:
        out: list[Reading] = []
        nibp: list[Reading] = []
        nibp_key: list[Any] = []
        seen: set[str] = set()
        reply_time = decode_abs_time(reply.abs_time, self.utc_offset_h)
        for obs in reply.observations:
            try:
                values = nu_values(obs.attributes)
            except Malformed:
                self.rejected["malformed"] += 1
                continue
            if not any(p in PHYSIO_SIGNALS for p, _, _, _ in values):
                continue
            when, stamp = self._time(obs.attributes, reply, reply_time, now)
            for physio, state, unit, raw in values:
                signal = PHYSIO_SIGNALS.get(physio)
                if signal is None or signal in seen:
                    continue
                seen.add(signal)
                reading = self._reading(signal, state, unit, raw, when)
                if reading is None:
                    continue
                if signal in NIBP_SIGNALS:
                    nibp.append(reading)
                    nibp_key.append((signal, reading.value, reading.flags, stamp))
                else:
                    out.append(reading)
        if nibp:
            key = tuple(nibp_key)
            if key != self._last_nibp:
                self._last_nibp = key
                out[:0] = nibp
        return out

    def _time(
        self,
        attrs: Mapping[int, bytes],
        reply: PollReply,
        reply_time: float | None,
        now: float | None,
    ) -> tuple[float | None, Any]:
        raw_abs = attrs.get(NOM_ATTR_TIME_STAMP_ABS)
        if raw_abs is not None:
            t = decode_abs_time(raw_abs, self.utc_offset_h)
            if t is not None:
                return t, raw_abs
        raw_rel = attrs.get(NOM_ATTR_TIME_STAMP_REL)
        if raw_rel is not None and len(raw_rel) == 4 and now is not None:
            ticks = int.from_bytes(raw_rel, "big")
            age = ((reply.rel_time - ticks) & 0xFFFFFFFF) / 8000.0
            return now - age, ticks
        return (reply_time if reply_time is not None else now), None

    def _reading(
        self, signal: str, state: int, unit: int, raw: int, when: float | None
    ) -> Reading | None:
        if state & MS_UNAVAILABLE:
            return None
        if state & (MS_DEMO_DATA | MS_TEST_DATA) and not self.accept_demo_data:
            self.skipped["demo_data"] += 1
            if not self._warned_demo:
                self._warned_demo = True
                log.warning(
                    "%s: monitor sends demo/test data; ignored (option accept_demo_data)",
                    self.source,
                )
            return None
        value = decode_float(raw)
        if value is None:
            return None
        factor = UNIT_FACTORS[signal].get(unit)
        if factor is None:
            self.rejected["unit"] += 1
            return None
        value = round(value * factor, 3)
        lo, hi = RANGES[signal]
        if not lo <= value <= hi:
            self.rejected["range"] += 1
            return None
        return Reading.of(
            signal, value, time=when, source=self.source, flags=flags_from_state(state)
        )


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "on")
    return bool(v)


def _number(options: Mapping[str, Any], key: str, default: float) -> float:
    try:
        value = float(options.get(key, default))
    except (TypeError, ValueError):
        raise ValueError(f"intellivue option {key} must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"intellivue option {key} must be a finite number")
    return value


def _positive(options: Mapping[str, Any], key: str, default: float) -> float:
    value = _number(options, key, default)
    if not value > 0:
        raise ValueError(f"intellivue option {key} must be positive, got {value}")
    return value


# --- passive decoder ------------------------------------------------------------
class IntelliVueDecoder:
    """Decode a captured byte stream from the monitor (poll replies -> readings).

    It does not talk: for live use the transport drives an
    :class:`IntelliVueSession`. Frames other than poll replies are skipped.
    """

    def __init__(self, source: str = "intellivue", options: Mapping[str, Any] | None = None):
        self.source = source
        self._frames = FrameReader()
        self.rejected: Counter[str] = self._frames.rejected
        self._numerics = NumericExtractor(source, options or {}, self.rejected)
        self.skipped = self._numerics.skipped
        #: Valid messages decoded, whatever they carry.
        self.frames = 0

    def reset(self) -> None:
        """Forget a partial frame (the transport calls this after a reconnect)."""
        self._frames.reset()

    def feed(self, data: bytes, now: float | None = None) -> list[Reading]:
        out: list[Reading] = []
        for user_data in self._frames.feed(data):
            try:
                msg = parse_message(user_data)
            except Malformed:
                self.rejected["malformed"] += 1
                continue
            self.frames += 1
            if msg.kind == "poll_reply" and msg.reply is not None:
                out.extend(self._numerics.readings(msg.reply, now))
        return out


# --- the host session -----------------------------------------------------------
#: The monitor accepts at most this many frames per window from the host.
MAX_FRAMES_PER_WINDOW = 4
FRAME_WINDOW_S = 0.128
_MAX_QUEUED = 16


class IntelliVueSession:
    """The host side of the data export session, as a pure state machine.

    States: ``idle`` (waiting to (re)associate), ``associating``,
    ``awaiting_mds``, ``polling``, ``released``. Time comes only from the
    ``now`` arguments (epoch or monotonic seconds, consistently).
    """

    def __init__(self, source: str = "intellivue", options: Mapping[str, Any] | None = None):
        opts = options or {}
        self.source = source
        self.poll_interval_s = _positive(opts, "poll_interval_s", 1.0)
        self.keepalive_s = _positive(opts, "keepalive_s", 5.0)
        self.silence_s = _positive(opts, "silence_s", 10.0)
        self.association_timeout_s = _positive(opts, "association_timeout_s", 5.0)
        self.reassociate_delay_s = _positive(opts, "reassociate_delay_s", 2.0)
        if self.silence_s <= min(self.poll_interval_s, self.keepalive_s):
            raise ValueError(
                f"intellivue option silence_s ({self.silence_s}) must be longer than "
                f"poll_interval_s or keepalive_s ({self.poll_interval_s}, {self.keepalive_s})"
            )
        self._frames = FrameReader()
        self.rejected: Counter[str] = self._frames.rejected
        self._numerics = NumericExtractor(source, opts, self.rejected)
        #: Valid messages received, whatever they carry (the transport's sign of life).
        self.frames = 0
        #: What happened, by name (associated, abort_received, silence, ...).
        self.events: Counter[str] = Counter()
        self._timeouts_at_success = 0
        self._queue: deque[bytes] = deque()
        self._sent: deque[float] = deque(maxlen=MAX_FRAMES_PER_WINDOW)
        self.reset()

    # -- public API
    def reset(self) -> None:
        """Forget the association (call after (re)opening the port)."""
        self._frames.reset()
        self.state = "idle"
        self.context = DEFAULT_CONTEXT
        self._not_before: float | None = None
        self._deadline = 0.0
        self._next_poll = 0.0
        self._last_rx = 0.0
        self._last_tx = 0.0
        self._invoke = 0
        self._poll_number = 0
        self._queue.clear()

    @property
    def associated(self) -> bool:
        return self.state == "polling"

    def feed(
        self, data: bytes, now: float, stamp: float | None = None
    ) -> tuple[list[Reading], bytes]:
        """Bytes from the monitor -> (readings, bytes to write to the monitor).

        ``now`` drives the timers (real seconds: the monitor's limits are real
        time); ``stamp`` (default ``now``) is the epoch receive time given to
        readings without a time of their own. A transport on a sped-up demo
        clock passes ``time.monotonic()`` and ``clock.now()``.
        """
        readings: list[Reading] = []
        for user_data in self._frames.feed(data):
            self._last_rx = now
            try:
                msg = parse_message(user_data)
            except Malformed:
                self.rejected["malformed"] += 1
                continue
            self.frames += 1
            readings.extend(self._on_message(msg, now, now if stamp is None else stamp))
        return readings, self._drain(now)

    def on_timer(self, now: float) -> bytes:
        """Time passed: (re)associate, poll, keep alive, detect silence."""
        if self.state == "idle":
            if self._not_before is None or now >= self._not_before:
                self._associate(now)
        elif self.state == "associating":
            if now >= self._deadline:
                self.events["association_timeout"] += 1
                failures = self.events["association_timeout"] - self._timeouts_at_success
                log.log(
                    logging.WARNING if failures == 1 or failures % 12 == 0 else logging.DEBUG,
                    "%s: no association response within %.0f s (%d tries); retrying. Check "
                    "the cable, 115200 8N1 without flow control, and that the monitor's "
                    "MIB/RS232 port is set to data export",
                    self.source,
                    self.association_timeout_s,
                    failures,
                )
                # the monitor may still hold a stale association of ours: abort it first
                self._associate(now, abort_first=True)
        elif self.state == "awaiting_mds":
            if now >= self._deadline:
                self.events["mds_timeout"] += 1
                log.warning("%s: no MDS Create Event Report; aborting to start over", self.source)
                self._drop(now, send_abort=True)
        elif self.state == "polling":
            if now - self._last_rx >= self._silence_limit():
                self.events["silence"] += 1
                log.warning(
                    "%s: monitor silent for %.1f s; aborting and re-associating",
                    self.source,
                    now - self._last_rx,
                )
                self._drop(now, send_abort=True)
            elif now >= self._next_poll:
                self._next_poll = max(self._next_poll + self.poll_interval_s, now)
                self._send(
                    extended_poll_request(self.context, self._next_invoke(), self._next_poll_no()),
                    now,
                )
            elif now - self._last_tx >= self.keepalive_s and not self._queue:
                self.events["keepalive"] += 1
                log.debug("%s: keep-alive", self.source)
                self._send(
                    keepalive_request(self.context, self._next_invoke(), self._next_poll_no()), now
                )
        return self._drain(now)

    def next_timer(self, now: float) -> float:
        """Seconds until ``on_timer`` has something to do (0 if now)."""
        due: list[float] = []
        if self._queue:
            due.append(self._sent[0] + FRAME_WINDOW_S if len(self._sent) == 4 else now)
        if self.state == "idle":
            due.append(now if self._not_before is None else self._not_before)
        elif self.state in ("associating", "awaiting_mds"):
            due.append(self._deadline)
        elif self.state == "polling":
            due += [
                self._next_poll,
                self._last_rx + self._silence_limit(),
                self._last_tx + self.keepalive_s,
            ]
        return max(0.0, min(due) - now) if due else 1.0

    def close(self, now: float) -> bytes:
        """Release the association (write the result before closing the port)."""
        if self.state in ("associating", "awaiting_mds", "polling"):
            self._send(RELEASE_REQUEST, now)
        self.state = "released"
        return self._drain(now, force=True)

    # -- internals
    def _on_message(self, msg: Message, now: float, stamp: float) -> list[Reading]:
        kind = msg.kind
        if kind == "assoc_accept":
            if self.state == "associating":
                self.state = "awaiting_mds"
                self._deadline = now + self.association_timeout_s
                period = parse_min_poll_period(msg.raw)
                if period is not None and period > self.poll_interval_s:
                    log.info("%s: monitor's minimum poll period is %.1f s", self.source, period)
                    self.poll_interval_s = period
                log.info("%s: association accepted", self.source)
        elif kind == "mds_create":
            self.context = msg.context
            self._send(
                mds_create_result(msg.context, msg.invoke_id, msg.managed_object, msg.event_time),
                now,
            )
            if self.state in ("associating", "awaiting_mds"):
                self.state = "polling"
                self._next_poll = now
                self.events["associated"] += 1
                self._timeouts_at_success = self.events["association_timeout"]
                log.info(
                    "%s: associated; polling numerics every %.1f s",
                    self.source,
                    self.poll_interval_s,
                )
        elif kind == "poll_reply" and msg.reply is not None:
            return self._numerics.readings(msg.reply, stamp)
        elif kind == "abort":
            self.events["abort_received"] += 1
            log.warning("%s: monitor aborted the association; re-associating", self.source)
            self._drop(now, send_abort=False)
        elif kind == "refuse":
            self.events["refused"] += 1
            log.warning("%s: monitor refused the association; retrying", self.source)
            self._drop(now, send_abort=False)
        elif kind == "release_request":
            self.events["release_received"] += 1
            log.warning("%s: monitor released the association; re-associating", self.source)
            self._drop(now, send_abort=False)
            self._send(RELEASE_RESPONSE, now)
        elif kind == "error":
            self.events["remote_error"] += 1
            log.debug("%s: remote operation error (invoke %d)", self.source, msg.invoke_id)
        return []

    def _associate(self, now: float, abort_first: bool = False) -> None:
        self._queue.clear()
        if abort_first:
            self._send(ABORT, now)
        self._send(association_request(self.poll_interval_s), now)
        self.state = "associating"
        self._deadline = now + self.association_timeout_s
        log.info("%s: association request sent", self.source)

    def _drop(self, now: float, *, send_abort: bool) -> None:
        self._queue.clear()
        if send_abort:
            self._send(ABORT, now)
        self.state = "idle"
        self._not_before = now + self.reassociate_delay_s

    def _send(self, user_data: bytes, now: float) -> None:
        if len(self._queue) >= _MAX_QUEUED:
            self._queue.popleft()
            self.events["dropped_outgoing"] += 1
        self._queue.append(encode_frame(user_data))

    def _drain(self, now: float, force: bool = False) -> bytes:
        out = bytearray()
        while self._queue and (
            force
            or len(self._sent) < MAX_FRAMES_PER_WINDOW
            or now - self._sent[0] >= FRAME_WINDOW_S
        ):
            self._sent.append(now)
            out += self._queue.popleft()
        if out:
            self._last_tx = now
        return bytes(out)

    def _silence_limit(self) -> float:
        # the monitor may impose a longer poll period than configured
        # and one lost reply must not end the association
        return max(self.silence_s, 2.5 * min(self.poll_interval_s, self.keepalive_s))

    def _next_invoke(self) -> int:
        self._invoke = (self._invoke + 1) & 0xFFFF
        return self._invoke

    def _next_poll_no(self) -> int:
        self._poll_number = (self._poll_number + 1) & 0xFFFF
        return self._poll_number


def run_session(
    port: Any,
    session: IntelliVueSession,
    on_reading: Callable[[Reading], None],
    should_stop: Callable[[], bool],
    now: Callable[[], float],
    tick_s: float = 0.05,
) -> None:
    """Drive ``session`` over an open pyserial port until ``should_stop()``.

    A minimal shell for bench checks and tests (the agent uses
    :class:`drivers.transport.DeviceLink`); it releases the association on the
    way out.
    """
    port.timeout = tick_s
    try:
        while not should_stop():
            data = port.read(port.in_waiting or 1)
            t = now()
            if data:
                readings, out = session.feed(data, t)
                for r in readings:
                    on_reading(r)
                if out:
                    port.write(out)
            out = session.on_timer(now())
            if out:
                port.write(out)
    finally:
        out = session.close(now())
        if out:
            port.write(out)
            port.flush()
