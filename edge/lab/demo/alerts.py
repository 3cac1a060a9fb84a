"""Alert events as the demo sees them: from the station's MQTT messages or from the outbox.

Both sources carry the same structured body, the one the publisher builds for the
``alerts`` topic (``{"alert": AlertEvent.to_dict(), "msg_id": ..., "seq": ...}``,
``docs/architecture.md``, "Messaging"). With a broker the station view receives
it; without one it stays in the agent's SQLite outbox, and :class:`OutboxAlerts`
reads it there (read-only, as the publisher would send it). Nothing here reads
the agent's log.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("capleak.demo")

#: Phases worth a line in the demo's live view (re-notifications are left out; the
#: ``update`` that latches an alert is shown by :class:`Transitions`).
SHOWN_PHASES = frozenset({"start", "escalate", "de-escalate", "end"})


class Transitions:
    """Which alert events change what a nurse sees: every shown phase, and the moment an
    alert latches (its condition ended, the alert stays until acknowledged), which the book
    publishes as an ``update`` in state ``latched``. Without that line a latched alert
    whose condition comes back seems to start twice.

    >>> from dataclasses import replace
    >>> t = Transitions()
    >>> a = SeenAlert(0.0, "hypotension", "start", "high", "active", "SBP 85")
    >>> [t.shown(e) for e in (a, replace(a, phase="update", state="latched"),
    ...                       replace(a, phase="update", state="latched"))]
    [True, True, False]
    """

    def __init__(self) -> None:
        self._state: dict[tuple[str, str], str] = {}

    def shown(self, alert: SeenAlert) -> bool:
        key = (alert.code, alert.source)
        before = self._state.get(key)
        self._state[key] = alert.state
        if alert.phase in SHOWN_PHASES:
            return True
        return alert.state == "latched" and before != "latched"


@dataclass(frozen=True, slots=True)
class SeenAlert:
    time: float
    code: str
    phase: str
    priority: str
    state: str
    message: str
    source: str = ""


def alert_from_message(body: dict[str, Any]) -> SeenAlert | None:
    """The alert event in an ``alerts`` message body, or None for any other body.

    >>> a = alert_from_message({"alert": {"code": "hypotension", "phase": "start",
    ...     "priority": "high", "state": "active", "message": "SBP 86 below 90",
    ...     "event_time": "2026-01-06T22:58:18.916Z"}})
    >>> a.code, a.phase, a.priority, a.state, a.message
    ('hypotension', 'start', 'high', 'active', 'SBP 86 below 90')
    >>> alert_from_message({"alerts": []}) is None  # the retained alerts/active list
    True
    """
    from edge.vocabulary import parse_time

    a = body.get("alert")
    if not isinstance(a, dict) or "event_time" not in a:
        return None
    return SeenAlert(
        parse_time(a["event_time"]),
        str(a.get("code")),
        str(a.get("phase")),
        str(a.get("priority")),
        str(a.get("state")),
        str(a.get("message", "")),
        str(a.get("source", "")),
    )


def course_time(t: float, start: float) -> str:
    """Simulated time as ``day N HH:MM`` from the course start (day 1 = the first day).

    >>> course_time(1_767_571_200.0 + 36 * 3600 + 90, 1_767_571_200.0)
    'day 2 12:01'
    """
    s = max(0.0, t - start)
    day = int(s // 86400) + 1
    rest = s % 86400
    return f"day {day} {int(rest // 3600):02d}:{int(rest % 3600 // 60):02d}"


def format_alert(alert: SeenAlert, where: str = "LOCAL", start: float | None = None) -> str:
    """One line per alert event, as the station's list would show it."""
    from edge.vocabulary import iso_time

    when = course_time(alert.time, start) if start is not None else iso_time(alert.time)
    if alert.phase == "update" and alert.state == "latched":
        return (
            f"{where:<7} {when:<13} {alert.priority.upper():<6} {alert.code:<18} "
            f"{'latched':<11} {alert.state:<8} condition over; the alert stays until "
            "acknowledged"
        )
    return (
        f"{where:<7} {when:<13} {alert.priority.upper():<6} {alert.code:<18} "
        f"{alert.phase:<11} {alert.state:<8} {alert.message}"
    )


def outbox_path(state_dir: Path) -> Path:
    from edge.messaging.outbox import OUTBOX_FILE

    return state_dir / OUTBOX_FILE


class OutboxAlerts:
    """The alert events the agent commits to its outbox, read in ``seq`` order as they come.

    The agent commits every message before it may be published (``edge.messaging.outbox``),
    so with no broker every alert event stays there. Each :meth:`poll` opens the
    database read-only (SQLite WAL: it never blocks the agent's writer) and returns the
    events committed since the last one; :attr:`seen` keeps them all. Poll only once the
    agent has opened its outbox (it says ``READY=1`` after that), or after it exited.
    If a broker appears meanwhile, messages sent and deleted between two polls are not
    seen here (the station would have them).
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = outbox_path(state_dir)
        self.seen: list[SeenAlert] = []
        self._after_seq = 0

    def poll(self) -> list[SeenAlert]:
        if not self.path.exists():
            return []
        try:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1)
            try:
                rows = con.execute(
                    "SELECT seq, topic, payload FROM outbox WHERE kind = 'alert' AND seq > ? "
                    "ORDER BY seq",
                    (self._after_seq,),
                ).fetchall()
            finally:
                con.close()
        except sqlite3.Error as e:
            log.debug("outbox %s not readable yet: %s", self.path, e)
            return []
        new = []
        for seq, topic, payload in rows:
            self._after_seq = int(seq)
            if not str(topic).endswith("/alerts"):
                continue  # alerts/active and dose-check share the kind
            try:
                body = json.loads(payload)
            except ValueError:
                log.warning("outbox message %s is not JSON", seq)
                continue
            if isinstance(body, dict) and (seen := alert_from_message(body)) is not None:
                new.append(seen)
        self.seen.extend(new)
        return new


def count_outbox(state_dir: Path) -> int:
    db = outbox_path(state_dir)
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        con.close()
