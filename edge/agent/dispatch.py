"""What the bed agent sends to the central station: the core's outputs, through the alert book,
the outbox and the publisher, with the alert commands handled on the way.

:class:`Dispatcher` is the one object the runtime (and ``capleak replay --publish``)
needs on the messaging side::

    d = Dispatcher(config, clock=clock, on_command=core_commands).start()
    d.readings(readings)        # vitals (batched by the publisher)
    d.output(obj)               # edge.vocabulary.Alert -> AlertBook -> alerts + alerts/active
                                # a DoseCheck (to_dict()["type"] contains "dose")  -> dose-check
                                # a TrendSummary (any other to_dict() / dict)      -> trends
    d.tick(now)                 # audio-pause expiry and re-notification (call every few s)
    d.clock_stepped(seconds)    # the wall clock stepped: deadlines move with it
    d.stop(drain_timeout=5)

Commands: ``ack`` and ``silence`` are applied to the :class:`~edge.messaging.alerts.AlertBook`
here (``edge.messaging.alerts.apply_command``) with ``clock.now()``; ``dose`` and ``baseline``
go to ``on_command(cmd) -> result dict`` (the runtime wires them to the core; raise
``edge.messaging.commands.CommandError`` / ``ValueError`` to refuse). Without ``on_command`` they
are refused with ``not_supported``.

The alert book is kept in the outbox's state table after every change, in the same
transaction as the events of that change (both or neither are stored), so after a
restart the same alerts are still active and :meth:`start` publishes the full
``alerts/active`` list again (``shared/docs/messaging-and-ops.md``, IHE ACM: after
a restart, a list of all active alerts is sent).

Storage failure (a full disk, an I/O error): alert events that cannot be stored are
held in memory (at most ``storage.alert_backlog_max``; beyond it the oldest are
dropped and counted in ``status.dropped.alert_events``), and the technical alert
``agent_fault`` (source ``storage``, high priority) starts at once in the book.
Every later change and every :meth:`tick` retries; the first commit that works
stores the held events, in order, with the book, and ends ``agent_fault``, which
therefore latches until a nurse acknowledges it (``docs/messaging.md``).

:func:`publish_outputs` publishes a finished stream (a replay) exactly this way and
returns once the broker acknowledged everything.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from edge.agent.technical import fault_alert
from edge.clock import Clock, SystemClock
from edge.config import Config
from edge.messaging.alerts import AlertBook, AlertEvent, apply_command
from edge.messaging.commands import Command, CommandError
from edge.messaging.health import Health, Throttle
from edge.messaging.outbox import STORAGE_ERRORS, Outbox
from edge.messaging.publisher import Publisher
from edge.vocabulary import Alert, AlertCode, Phase, Reading

if TYPE_CHECKING:
    from edge.core.outputs import Output

log = logging.getLogger(__name__)

BOOK_STATE = "alert_book"


class Dispatcher:
    """Alert book + outbox + publisher for one bed."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        outbox: Outbox | None = None,
        on_command: Callable[[Command], Mapping[str, Any] | None] | None = None,
        devices: Sequence[Mapping[str, Any]] = (),
        reconnect_delay: tuple[float, float] = (0.25, 10.0),
        health: Health | None = None,
    ) -> None:
        self.config = config
        self.health = health or Health(config.storage.fault_after_errors)
        self.clock = clock or SystemClock()
        self._own_outbox = outbox is None
        self.outbox = outbox or Outbox.in_dir(
            config.storage.state_dir,
            config.storage.outbox_max_messages,
            self.clock,
            seq_reserve=config.storage.seq_reserve,
        )
        self.on_command = on_command
        # the book: commands (pump thread) vs outputs; reentrant for fault handlers
        self._lock = threading.RLock()
        self._backlog: collections.deque[AlertEvent] = collections.deque()
        self._backlog_max = config.storage.alert_backlog_max
        self._storage_log = Throttle()
        self.book = AlertBook.restore(
            self.outbox.get_state(BOOK_STATE, []), renotify_s=config.publish.renotify_min * 60
        )
        self.publisher = Publisher(
            config,
            self.outbox,
            clock=self.clock,
            on_command=self._command,
            devices=devices,
            reconnect_delay=reconnect_delay,
            health=self.health,
        )

    def start(self) -> Dispatcher:
        with self._lock:
            self.publisher.publish_alerts([], self.book.active())
        self.publisher.start()
        return self

    def stop(self, drain_timeout: float = 0.0) -> bool:
        """Stop publishing; True when everything stored was acknowledged."""
        ok = self.publisher.stop(drain_timeout)
        if self._own_outbox:
            self.outbox.close()
        return ok

    def wait_idle(self, timeout: float) -> bool:
        return self.publisher.wait_idle(timeout)

    # -- outputs ------------------------------------------------------------------------

    def readings(
        self, readings: Iterable[Reading], rejected: Sequence[str | None] | None = None
    ) -> None:
        """Readings for ``vitals``; with ``rejected`` (the core's verdict on each, None = passed,
        :meth:`edge.core.Core.screen`) every reading carries it (:func:`vitals_reading`)."""
        if rejected is None:
            self.publisher.add_readings(readings)
        else:
            self.publisher.add_readings(
                [vitals_reading(r, why) for r, why in zip(readings, rejected, strict=True)]
            )

    def alert(self, alert: Alert, state: Mapping[str, Any] | None = None) -> list[AlertEvent]:
        """One condition event through the book; ``state`` (``{key: value}`` for the outbox's
        state table, e.g. the core's snapshot) is committed with its events and the book."""
        with self._lock:
            events = self.book.update(alert)
            self._publish(events, state)
        return events

    def output(self, obj: Reading | Output | Mapping[str, Any]) -> None:
        """One output of the core: a Reading, an Alert, a DoseCheck or a TrendSummary."""
        if isinstance(obj, Reading):
            self.readings([obj])
        elif isinstance(obj, Alert):
            self.alert(obj)
        else:
            d = dict(obj) if isinstance(obj, Mapping) else obj.to_dict()
            if "dose" in str(d.get("type", "")).lower():
                self.publisher.publish_dose_check(d)
            else:
                self.publisher.publish_trends(d)

    def tick(self, now: float) -> list[AlertEvent]:
        """Audio-pause expiry and re-notification; retries held alert events."""
        with self._lock:
            events = self.book.tick(now)
            self._publish(events)
        return events

    def clock_stepped(self, seconds: float) -> None:
        """The wall clock stepped: re-notification and audio pauses keep their real intervals.

        The shifted book is stored with the next change (or now, best effort).
        """
        with self._lock:
            self.book.shift(seconds)
            if len(self.book):
                try:
                    self.outbox.set_state(BOOK_STATE, self.book.snapshot())
                except STORAGE_ERRORS as e:
                    self.health.failed("storage", f"{type(e).__name__}: {e}")
                else:
                    self.health.succeeded("storage")

    @property
    def held(self) -> int:
        """Alert events waiting in memory for the outbox to work again."""
        with self._lock:
            return len(self._backlog)

    def _publish(
        self, events: Sequence[AlertEvent], state: Mapping[str, Any] | None = None
    ) -> None:
        """Store ``events`` (after any held ones) with the book's snapshot, in one commit."""
        if not events and not self._backlog:
            return
        pending = [*self._backlog, *events]
        try:
            stored = {**(state or {}), BOOK_STATE: self.book.snapshot()}
            self.publisher.publish_alerts(pending, self.book.active(), state=stored)
        except STORAGE_ERRORS as e:
            self._hold(events, f"{type(e).__name__}: {e}")
            return
        self._backlog.clear()
        if _state_of(self.book, AlertCode.AGENT_FAULT, "storage") == "active":
            self.health.clear_fault("storage")
            log.warning("outbox works again: %d held alert event(s) stored", len(pending))
            self._publish(self.book.update(storage_fault(Phase.END, self.clock.now(), "")))

    def _hold(self, events: Sequence[AlertEvent], reason: str) -> None:
        new = list(events)
        if _state_of(self.book, AlertCode.AGENT_FAULT, "storage") != "active":
            self.health.set_fault("storage", reason)
            new += self.book.update(storage_fault(Phase.START, self.clock.now(), reason))
        self._backlog.extend(new)
        over = len(self._backlog) - self._backlog_max
        for _ in range(max(0, over)):
            self._backlog.popleft()
        self.health.drop("alert_events", max(0, over))
        self._storage_log.log(
            log,
            logging.ERROR,
            "outbox cannot store alert events (%s): %d held in memory, retrying",
            reason,
            len(self._backlog),
        )

    # -- commands (publisher thread) -----------------------------------------------------

    def _command(self, cmd: Command) -> Mapping[str, Any] | None:
        if cmd.name in ("ack", "silence"):
            with self._lock:
                result, events = apply_command(self.book, cmd, self.clock.now())
                self._publish(events)
            return result
        if self.on_command is None:
            raise CommandError("not_supported", f"{cmd.name!r} is not handled by this agent")
        return self.on_command(cmd)


#: The flag a reading the core rejected carries on ``vitals`` (with ``rejected``: why).
REJECTED_FLAG = "rejected"


def vitals_reading(reading: Reading, rejected: str | None) -> dict[str, Any]:
    """A reading as published on ``vitals`` with the core's verdict (``docs/messaging.md``).

    ``valid`` says the core validated it (true: it passed; false: it was rejected);
    a rejected one also has the flag ``rejected`` and ``rejected`` = the core's reason.
    A reading without ``valid`` was published raw (an agent before this field, a replay).

    >>> from edge.vocabulary import Reading
    >>> d = vitals_reading(Reading.of("sbp", 5.0, source="nibp"), "implausible")
    >>> d["valid"], d["flags"], d["rejected"]
    (False, ['rejected'], 'implausible')
    >>> vitals_reading(Reading.of("sbp", 120.0, source="nibp"), None)["valid"]
    True
    """
    d = reading.to_dict()
    d["valid"] = rejected is None
    if rejected is not None:
        d["flags"] = sorted({*d["flags"], REJECTED_FLAG})
        d["rejected"] = rejected
    return d


def _state_of(book: AlertBook, code: str, source: str) -> str | None:
    """``active`` / ``latched`` for the alert ``(code, source)`` in ``book``, else None."""
    for a in book.active():
        if a["code"] == code and a.get("source", "") == source:
            return str(a["state"])
    return None


def storage_fault(phase: Phase, time: float, reason: str) -> Alert:
    """The technical ``agent_fault`` alert for an outbox that cannot store alert events.

    High priority: alert events are being delayed, so every clinical alert of the bed
    may be late (IEC 60601-1-8 via ``shared/docs/messaging-and-ops.md``: immediate
    response); it latches when storage works again, until acknowledged.
    """
    message = (
        f"the agent cannot store alert events: {reason}; alerts are held in memory"
        if phase == Phase.START
        else "the agent stores alert events again; held alerts were sent late"
    )
    return fault_alert("storage", phase, time, message, {"reason": reason} if reason else {})


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What :func:`publish_outputs` sent."""

    readings: int
    alerts: int
    other: int
    last_seq: int
    acknowledged: bool


def publish_outputs(
    config: Config,
    outputs: Iterable[Reading | Output | Mapping[str, Any]],
    *,
    timeout: float = 60.0,
    clock: Clock | None = None,
) -> PublishResult:
    """Publish a finished stream of core outputs as the live agent would.

    Readings are batched by *their own* time (``publish.vitals_batch_s``), alerts go
    through the alert book (re-notification on the stream's time), everything through
    the outbox in ``config.storage.state_dir``. Returns once the broker acknowledged
    everything (``acknowledged`` False if ``timeout`` ran out first); raises
    ``ConnectionError`` when the broker cannot be reached within ``timeout``.
    """
    # The stream is batched here, by its own time: the publisher stages each batch as one
    # message (its own batching by wall time is off) and its pump stores what is staged in
    # one transaction per cycle (group commit), not one fsync per batch. An alert's commit
    # takes everything staged before it, so the order of the stream is kept.
    unbatched = replace(config, publish=replace(config.publish, vitals_batch_s=0.0))
    d = Dispatcher(unbatched, clock=clock, reconnect_delay=(0.1, 2.0)).start()
    n_readings = n_alerts = n_other = 0
    batch: list[Reading] = []
    batch_s = config.publish.vitals_batch_s

    def flush() -> None:
        if batch:
            d.readings(batch)
            batch.clear()

    try:
        if not d.publisher.wait_connected(timeout):
            raise ConnectionError(f"no connection to {config.broker.url} within {timeout:g} s")
        for obj in outputs:
            if isinstance(obj, Reading):
                t = obj.time or 0.0
                if batch and (batch_s <= 0 or t - (batch[0].time or 0.0) >= batch_s):
                    flush()
                batch.append(obj)
                n_readings += 1
                d.tick(t)
                continue
            flush()
            if isinstance(obj, Alert):
                d.alert(obj)
                d.tick(obj.time)
                n_alerts += 1
            else:
                d.output(obj)
                n_other += 1
        flush()
        d.publisher.flush()
        ok = d.wait_idle(timeout)
        return PublishResult(n_readings, n_alerts, n_other, d.outbox.last_seq, ok)
    finally:
        d.stop()
