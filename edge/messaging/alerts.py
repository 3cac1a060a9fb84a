"""The alert lifecycle: condition events in, IEC 60601-1-8 / IHE ACM alert events out.

The core reports *conditions* (:class:`edge.vocabulary.Alert` with phase
``start`` / ``escalate`` / ``de-escalate`` / ``end``, one instance per
``(code, source)``). :class:`AlertBook` turns them into the alert as a person
at the central station sees it (``shared/docs/messaging-and-ops.md``, "Alarm
semantics"):

* **state** ``active`` (condition present), ``latched`` (condition gone, but a
  high-priority alert stays signalled until someone acknowledges it) or
  ``inactive`` (over; the instance leaves the book);
* **inactivation** ``enabled``, ``audio-paused`` (a time-limited audio pause by
  command) or ``acknowledged``;
* **phase** of each published event, as in IHE ACM: ``start``, ``escalate``,
  ``de-escalate``, ``update`` (state or inactivation changed), ``continue`` (a
  re-notification of an unacknowledged high-priority alert, every
  ``PublishConfig.renotify_min``), ``end``.

An escalation clears an acknowledgement or audio pause (a worse condition must
be heard again). The book is pure: it takes time from events and from
``tick(now)`` and never reads a clock; the publisher puts its events on
``alerts`` and :meth:`AlertBook.active` on the retained ``alerts/active``.
After a restart, :meth:`AlertBook.restore` rebuilds it from :meth:`snapshot`
(the runtime keeps the snapshot in the outbox's state table) so the full list
of active alerts can be published again.

>>> from edge.vocabulary import Alert
>>> book = AlertBook(renotify_s=300)
>>> start = Alert("hypotension", "high", "physiological", "start", 0.0, "SBP 85 < 90")
>>> [str(e.phase) for e in book.update(start)]
['start']
>>> end = Alert("hypotension", "high", "physiological", "end", 60.0, "SBP recovered")
>>> [(str(e.phase), str(e.state)) for e in book.update(end)]
[('update', 'latched')]
>>> [(str(e.phase), str(e.state)) for e in book.ack("hypotension", now=90.0, by="rn-1")]
[('end', 'inactive')]
>>> book.active()
[]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from edge.vocabulary import Alert, Kind, Phase, Priority, iso_time


class State(StrEnum):
    """IHE ACM alert state."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    LATCHED = "latched"


class Inactivation(StrEnum):
    """IEC 60601-1-8 inactivation state (the subset capleak uses)."""

    ENABLED = "enabled"
    AUDIO_PAUSED = "audio-paused"
    ACKNOWLEDGED = "acknowledged"


class UnknownAlert(LookupError):
    """An acknowledgement or audio pause named no alert in the book."""


#: Longest audio pause a command may ask for, in seconds. IEC 60601-1-8 leaves the
#: interval to the manufacturer; bedside monitors commonly offer 1-3 min. This bound
#: only protects against a typo; the runtime may ask for less.
MAX_AUDIO_PAUSE_S = 900.0


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One published event in the life of one alert instance."""

    alert_id: str
    code: str
    source: str
    priority: Priority
    kind: Kind
    phase: Phase
    state: State
    inactivation: Inactivation
    time: float
    since: float
    message: str
    values: Mapping[str, Any] = field(default_factory=dict)
    notifications: int = 1
    audio_paused_until: float | None = None
    acknowledged_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "alert_id": self.alert_id,
            "code": self.code,
            "priority": self.priority.value,
            "kind": self.kind.value,
            "phase": self.phase.value,
            "state": self.state.value,
            "inactivation": self.inactivation.value,
            "event_time": iso_time(self.time),
            "since": iso_time(self.since),
            "message": self.message,
            "values": dict(self.values),
            "notifications": self.notifications,
        }
        if self.source:
            d["source"] = self.source
        if self.audio_paused_until is not None:
            d["audio_paused_until"] = iso_time(self.audio_paused_until)
        if self.acknowledged_by is not None:
            d["acknowledged_by"] = self.acknowledged_by
        return d


@dataclass(slots=True)
class _Instance:
    """Mutable book-keeping for one alert instance (private to the book)."""

    code: str
    source: str
    priority: Priority
    kind: Kind
    since: float
    message: str
    values: dict[str, Any]
    state: State = State.ACTIVE
    inactivation: Inactivation = Inactivation.ENABLED
    last_notified: float = 0.0
    notifications: int = 1
    audio_paused_until: float | None = None
    acknowledged_by: str | None = None

    @property
    def alert_id(self) -> str:
        return f"{self.code}/{self.source or '-'}/{round(self.since * 1000)}"

    def event(self, phase: Phase, time: float) -> AlertEvent:
        return AlertEvent(
            alert_id=self.alert_id,
            code=self.code,
            source=self.source,
            priority=self.priority,
            kind=self.kind,
            phase=phase,
            state=self.state,
            inactivation=self.inactivation,
            time=time,
            since=self.since,
            message=self.message,
            values=dict(self.values),
            notifications=self.notifications,
            audio_paused_until=self.audio_paused_until,
            acknowledged_by=self.acknowledged_by,
        )


class AlertBook:
    """The current alerts of one bed and their lifecycle.

    ``renotify_s``: re-notify an unacknowledged high-priority alert this often
    (``PublishConfig.renotify_min`` x 60). ``latching``: priorities whose alerts
    latch after their condition ends (high, per ``messaging-and-ops.md``).
    """

    def __init__(
        self,
        renotify_s: float = 300.0,
        latching: Iterable[Priority | str] = (Priority.HIGH,),
    ) -> None:
        if renotify_s <= 0:
            raise ValueError("renotify_s must be positive")
        self.renotify_s = renotify_s
        self.latching = frozenset(Priority(p) for p in latching)
        self._alerts: dict[tuple[str, str], _Instance] = {}

    # -- condition events from the core -------------------------------------------------

    def update(self, alert: Alert) -> list[AlertEvent]:
        """Apply one condition event; return the alert events to publish."""
        key = alert.key
        inst = self._alerts.get(key)
        if alert.phase == Phase.END:
            return self._end(inst, alert) if inst else []
        if inst is None or inst.state == State.LATCHED:
            # A latched alert's condition is over: any condition event but ``end`` (a start,
            # or an escalate/de-escalate that crossed a restart or an out-of-order end) means
            # the condition is present again, so a fresh active instance starts at the
            # condition's priority. Changing the priority of the latched instance in place
            # would leave a low-priority alert latched, which only high priority may be.
            inst = _Instance(
                code=alert.code,
                source=alert.source,
                priority=alert.priority,
                kind=alert.kind,
                since=alert.time,
                message=alert.message,
                values=dict(alert.values),
                last_notified=alert.time,
            )
            self._alerts[key] = inst
            return [inst.event(Phase.START, alert.time)]
        inst.message = alert.message
        inst.values = dict(alert.values)
        if alert.priority == inst.priority:
            return []  # a repeated start or a no-op escalation: nothing new to say
        up = alert.priority.rank > inst.priority.rank
        inst.priority = alert.priority
        if up:
            inst.inactivation = Inactivation.ENABLED
            inst.audio_paused_until = None
            inst.acknowledged_by = None
        inst.last_notified = alert.time
        return [inst.event(Phase.ESCALATE if up else Phase.DE_ESCALATE, alert.time)]

    def _end(self, inst: _Instance, alert: Alert) -> list[AlertEvent]:
        inst.message = alert.message
        inst.values = dict(alert.values) or inst.values
        if inst.state == State.LATCHED:
            return []
        if inst.priority in self.latching and inst.inactivation != Inactivation.ACKNOWLEDGED:
            inst.state = State.LATCHED
            return [inst.event(Phase.UPDATE, alert.time)]
        return [self._remove(inst, alert.time)]

    def _remove(self, inst: _Instance, time: float) -> AlertEvent:
        inst.state = State.INACTIVE
        del self._alerts[(inst.code, inst.source)]
        return inst.event(Phase.END, time)

    # -- operator actions (commands) ----------------------------------------------------

    def _select(self, code: str | None, source: str | None) -> list[_Instance]:
        found = [
            i
            for i in self._alerts.values()
            if (code is None or i.code == code) and (source is None or i.source == source)
        ]
        if not found:
            what = "any alert" if code is None else repr(code)
            where = f" from {source!r}" if source else ""
            raise UnknownAlert(f"no active or latched alert {what}{where}")
        return found

    def ack(
        self, code: str, *, now: float, source: str | None = None, by: str | None = None
    ) -> list[AlertEvent]:
        """Acknowledge ``code`` (every source, or just ``source``).

        A latched alert ends; an active one stays active, acknowledged, and is no
        longer re-notified. Raises :class:`UnknownAlert` when nothing matches.
        """
        events = []
        for inst in self._select(code, source):
            inst.inactivation = Inactivation.ACKNOWLEDGED
            inst.audio_paused_until = None
            inst.acknowledged_by = by
            if inst.state == State.LATCHED:
                events.append(self._remove(inst, now))
            else:
                events.append(inst.event(Phase.UPDATE, now))
        return events

    def silence(
        self, duration_s: float, *, now: float, code: str | None = None, source: str | None = None
    ) -> list[AlertEvent]:
        """Pause the audio of the matching (default: all) alerts for ``duration_s``.

        Acknowledged alerts stay acknowledged. Raises :class:`UnknownAlert` when
        nothing matches, ``ValueError`` for a duration out of (0, MAX_AUDIO_PAUSE_S].
        """
        if not 0 < duration_s <= MAX_AUDIO_PAUSE_S:
            raise ValueError(f"duration_s must be in (0, {MAX_AUDIO_PAUSE_S:g}]")
        events = []
        for inst in self._select(code, source):
            if inst.inactivation == Inactivation.ACKNOWLEDGED:
                continue
            inst.inactivation = Inactivation.AUDIO_PAUSED
            inst.audio_paused_until = now + duration_s
            events.append(inst.event(Phase.UPDATE, now))
        return events

    # -- time ---------------------------------------------------------------------------

    def tick(self, now: float) -> list[AlertEvent]:
        """End expired audio pauses; re-notify unacknowledged high-priority alerts."""
        events = []
        for inst in sorted(self._alerts.values(), key=lambda i: i.since):
            if (
                inst.inactivation == Inactivation.AUDIO_PAUSED
                and inst.audio_paused_until is not None
                and now >= inst.audio_paused_until
            ):
                inst.inactivation = Inactivation.ENABLED
                inst.audio_paused_until = None
                events.append(inst.event(Phase.UPDATE, now))
            if (
                inst.priority == Priority.HIGH
                and inst.inactivation == Inactivation.ENABLED
                and now - inst.last_notified >= self.renotify_s
            ):
                inst.notifications += 1
                inst.last_notified = now
                events.append(inst.event(Phase.CONTINUE, now))
        return events

    def shift(self, seconds: float) -> None:
        """The wall clock stepped by ``seconds``: move the pending deadlines with it.

        Re-notification and audio-pause expiry are measured on the times :meth:`tick`
        is given (wall time); after a step, the same real interval must still pass:
        a step back would otherwise stop re-notification and stretch an audio pause
        by the step, a step forward fire every re-notification and end every pause at
        once. When each alert started (``since``, its identity) is history and stays.

        >>> book = AlertBook(renotify_s=300)
        >>> _ = book.update(Alert("hypotension", "high", "physiological", "start", 0.0, "SBP 85"))
        >>> book.shift(-3600.0); [str(e.phase) for e in book.tick(300.0 - 3600.0)]
        ['continue']
        """
        for inst in self._alerts.values():
            inst.last_notified += seconds
            if inst.audio_paused_until is not None:
                inst.audio_paused_until += seconds

    # -- views --------------------------------------------------------------------------

    def active(self) -> list[dict[str, Any]]:
        """Active and latched alerts, highest priority first, then oldest first."""
        insts = sorted(self._alerts.values(), key=lambda i: (-i.priority.rank, i.since, i.code))
        out = []
        for i in insts:
            d = i.event(Phase.UPDATE, i.since).to_dict()
            del d["phase"], d["event_time"]
            out.append(d)
        return out

    def __len__(self) -> int:
        return len(self._alerts)

    def snapshot(self) -> list[dict[str, Any]]:
        """JSON-ready state for :meth:`restore` after a restart."""
        out = []
        for inst in self._alerts.values():
            d = dataclasses.asdict(inst)
            d.update(
                priority=inst.priority.value,
                kind=inst.kind.value,
                state=inst.state.value,
                inactivation=inst.inactivation.value,
            )
            out.append(d)
        return out

    @classmethod
    def restore(
        cls,
        snapshot: Iterable[Mapping[str, Any]],
        renotify_s: float = 300.0,
        latching: Iterable[Priority | str] = (Priority.HIGH,),
    ) -> AlertBook:
        book = cls(renotify_s, latching)
        for d in snapshot:
            inst = _Instance(
                **{
                    **d,
                    "priority": Priority(d["priority"]),
                    "kind": Kind(d["kind"]),
                    "state": State(d["state"]),
                    "inactivation": Inactivation(d["inactivation"]),
                    "values": dict(d.get("values", {})),
                }
            )
            book._alerts[(inst.code, inst.source)] = inst
        return book


def apply_command(book: AlertBook, cmd: Any, now: float) -> tuple[dict[str, Any], list[AlertEvent]]:
    """Apply an ``ack`` or ``silence`` command (``edge.messaging.commands.Command``) to ``book``.

    Returns the reply's ``result`` and the events to publish. Raises
    :class:`UnknownAlert` or ``ValueError`` (the publisher turns them into error
    replies); the book is unchanged then.
    """
    args = cmd.args
    if cmd.name == "ack":
        events = book.ack(args["alert"], now=now, source=args.get("source"), by=cmd.by)
    elif cmd.name == "silence":
        events = book.silence(
            float(args["duration_s"]), now=now, code=args.get("alert"), source=args.get("source")
        )
    else:
        raise ValueError(f"the alert book does not handle {cmd.name!r}")
    return {"alerts": [e.alert_id for e in events]}, events
