"""A reference central station: what a subscriber must do with capleak's messages.

:class:`Station` is pure (no MQTT inside): feed it every received message with
:meth:`Station.receive` and it keeps, per bed, whether the agent is online, its
active alerts by priority (from the retained ``alerts/active``), the latest dose
check and the latest vitals. It

* de-duplicates by ``msg_id`` (delivery is at-least-once: after a reconnect or an
  agent restart some messages arrive twice), remembering the last
  ``dedup_size`` ids;
* reports ``seq`` gaps per bed: ``seq`` is one counter per agent, so a jump
  means messages that never arrived (e.g. vitals dropped by a full outbox, which
  the agent also counts in ``status.drops``). Retained messages replayed at
  subscription time and the Will (which reuses an old ``seq``) are not used for
  gap detection; a late message that fills a gap closes it again. The ``status``
  takes its ``seq`` from the same counter but is published at once on connect,
  ahead of the stored backlog: its seq is remembered, not used as a position.

Shared subscriptions (``capleak station --share GROUP``, ``docs/scale.md``): with
``share`` set the station is one member of an MQTT 5 group
(``$share/GROUP/capleak/v1/...``); the broker gives each message of the streams to one
member, so a member sees only part of each bed's ``seq`` and must not call the rest
gaps. A member therefore keeps no gaps (``last_seq`` is the highest seen): loss is
judged at the group level, on the union of the members' ``(bed, seq)`` (what
``capleak station --json`` prints, and the fleet tests check), and through what the
agent itself counts (``status.drops``, ``outbox_depth``). The state a nurse needs, the
retained ``status``, ``alerts/active`` and ``dose-check``, every member also takes
through a plain subscription (:meth:`Station.subscriptions`: the broker does not send
retained messages on a shared subscription, MQTT 5 4.8.2), so every member's board
shows every bed; copies that arrive through both are dropped by ``msg_id``.

``edge/cli/station.py`` is the command-line shell around it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

TOPIC_PREFIX = "capleak/v1/"
_PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}
MAX_GAPS = 1000
#: What a bed publishes retained: the state every member of a share group takes.
RETAINED_KINDS = ("status", "alerts/active", "dose-check")


@dataclass(slots=True)
class BedView:
    """What the station knows about one bed."""

    bed: str
    online: bool | None = None
    status: dict[str, Any] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    dose_check: dict[str, Any] | None = None
    vitals: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_seq: int | None = None
    gaps: list[list[int]] = field(default_factory=list)
    messages: int = 0
    duplicates: int = 0
    boot_id: str | None = None
    out_of_band: list[int] = field(default_factory=list)

    def missing(self) -> int:
        return sum(b - a + 1 for a, b in self.gaps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bed": self.bed,
            "online": self.online,
            "alerts": self.alerts,
            "dose_check": self.dose_check,
            "vitals": self.vitals,
            "last_seq": self.last_seq,
            "gaps": self.gaps,
            "missing": self.missing(),
            "messages": self.messages,
            "duplicates": self.duplicates,
            "drops": self.status.get("drops", {}),
            "outbox_depth": self.status.get("outbox_depth"),
        }


@dataclass(frozen=True, slots=True)
class Received:
    """The station's view of one received message (``--json`` prints it)."""

    topic: str
    bed: str | None
    kind: str
    retained: bool
    duplicate: bool = False
    gap: tuple[int, int] | None = None
    payload: Any = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "topic": self.topic,
            "bed": self.bed,
            "kind": self.kind,
            "retained": self.retained,
            "duplicate": self.duplicate,
            "gap": list(self.gap) if self.gap else None,
            "payload": self.payload,
        }
        if self.error:
            d["error"] = self.error
        return d


def _ranges(first: int, last: int, skip: set[int]) -> list[tuple[int, int]]:
    """``first..last`` without the numbers in ``skip``, as inclusive ranges."""
    out = []
    start = first
    for n in sorted(x for x in skip if first <= x <= last):
        if n > start:
            out.append((start, n - 1))
        start = n + 1
    if start <= last:
        out.append((start, last))
    return out


def _alert_order(a: dict[str, Any]) -> tuple[int, str]:
    return (_PRIORITY_ORDER.get(str(a.get("priority")), 9), str(a.get("since", "")))


class Station:
    """The state of every bed seen, from the messages received."""

    def __init__(
        self, filter: str | None = None, dedup_size: int = 100_000, share: str | None = None
    ) -> None:
        self.filter = filter.strip("/") if filter else None
        self.share = share
        self.beds: dict[str, BedView] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.dedup_size = dedup_size

    def subscription(self) -> str:
        return f"{TOPIC_PREFIX}{self.filter}/#" if self.filter else f"{TOPIC_PREFIX}#"

    def subscriptions(self) -> list[str]:
        """The topic filters to subscribe to (module docs, shared subscriptions).

        >>> Station().subscriptions()
        ['capleak/v1/#']
        >>> Station("s1", share="g").subscriptions()  # doctest: +NORMALIZE_WHITESPACE
        ['$share/g/capleak/v1/s1/#', 'capleak/v1/s1/+/+/status',
         'capleak/v1/s1/+/+/alerts/active', 'capleak/v1/s1/+/+/dose-check']
        """
        if self.share is None:
            return [self.subscription()]
        levels = (self.filter.split("/") if self.filter else []) + ["+"] * 3
        beds = "/".join(levels[:3])
        return [f"$share/{self.share}/{self.subscription()}"] + [
            f"{TOPIC_PREFIX}{beds}/{kind}" for kind in RETAINED_KINDS
        ]

    def receive(self, topic: str, payload: bytes, retained: bool = False) -> Received | None:
        """Take one message; returns what it meant (None for topics not ours)."""
        if not topic.startswith(TOPIC_PREFIX):
            return None
        parts = topic[len(TOPIC_PREFIX) :].split("/", 3)
        if len(parts) < 4:
            return None
        bed = "/".join(parts[:3])
        kind = parts[3]
        if self.filter and not (bed + "/").startswith(self.filter + "/"):
            return None
        if kind.startswith("cmd/") and not kind.endswith("/reply"):
            return None  # commands to beds (from stations) are not bed messages
        try:
            body = json.loads(payload)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError as e:
            if not payload:
                return None  # a cleared retained message
            return Received(topic, bed, kind, retained, error=f"bad JSON: {e}")
        view = self.beds.setdefault(bed, BedView(bed))
        msg_id = body.get("msg_id")
        if isinstance(msg_id, str):
            if msg_id in self._seen:
                view.duplicates += 1
                return Received(topic, bed, kind, retained, duplicate=True, payload=body)
            self._seen[msg_id] = None
            if len(self._seen) > self.dedup_size:
                self._seen.popitem(last=False)
        view.messages += 1
        gap = None
        seq = body.get("seq")
        if isinstance(seq, int) and not retained and not body.get("will"):
            if self.share is not None:  # one member sees part of the seq: no gaps here
                view.last_seq = max(seq, view.last_seq or seq)
            elif kind == "status":
                self._out_of_band(view, seq)
            else:
                gap = self._track(view, seq)
        self._apply(view, kind, body)
        return Received(topic, bed, kind, retained, gap=gap, payload=body)

    def _out_of_band(self, view: BedView, seq: int) -> None:
        """A status: published at once on connect, ahead of the stored backlog."""
        view.out_of_band.append(seq)
        del view.out_of_band[:-64]
        self._fill(view, seq)

    def _track(self, view: BedView, seq: int) -> tuple[int, int] | None:
        last = view.last_seq
        if last is None or seq == last + 1:
            view.last_seq = seq
            return None
        if seq > last + 1:
            missing = [g for g in _ranges(last + 1, seq - 1, set(view.out_of_band)) if g[0] <= g[1]]
            view.gaps.extend(list(g) for g in missing)
            del view.gaps[:-MAX_GAPS]
            view.last_seq = seq
            if not missing:
                return None
            return (missing[0][0], missing[-1][1])
        self._fill(view, seq)
        return None

    def _fill(self, view: BedView, seq: int) -> None:
        for g in view.gaps:  # a late arrival: close it in its gap
            if g[0] <= seq <= g[1]:
                view.gaps.remove(g)
                if g[0] < seq:
                    view.gaps.append([g[0], seq - 1])
                if seq < g[1]:
                    view.gaps.append([seq + 1, g[1]])
                view.gaps.sort()
                break

    def _apply(self, view: BedView, kind: str, body: dict[str, Any]) -> None:
        if kind == "status":
            if body.get("boot_id") != view.boot_id and body.get("state") == "online":
                view.boot_id = body.get("boot_id")
            view.online = body.get("state") == "online"
            view.status = body
        elif kind == "alerts/active":
            alerts = body.get("alerts") or []
            view.alerts = sorted(
                alerts,
                key=lambda a: (_PRIORITY_ORDER.get(a.get("priority"), 9), a.get("since", "")),
            )
        elif kind == "dose-check":
            view.dose_check = body.get("dose_check")
        elif kind == "vitals":
            for r in body.get("readings") or []:
                if isinstance(r, dict) and "signal" in r:
                    view.vitals[r["signal"]] = r

    # -- views ------------------------------------------------------------------------

    def summary(self) -> list[dict[str, Any]]:
        return [self.beds[k].to_dict() for k in sorted(self.beds)]

    def render(self) -> str:
        """A plain-text board: one block per bed, alerts by priority."""
        lines = []
        for key in sorted(self.beds):
            v = self.beds[key]
            state = {True: "ONLINE", False: "OFFLINE", None: "unknown"}[v.online]
            extra = ""
            if v.missing():
                extra += f", {v.missing()} seq missing"
            drops = sum((v.status.get("drops") or {}).values())
            if drops:
                extra += f", {drops} dropped by the agent"
            lines.append(f"{key}: {state} ({v.messages} messages{extra})")
            for prio in ("high", "medium", "low"):
                for a in (a for a in v.alerts if a.get("priority") == prio):
                    lines.append(
                        f"  [{prio.upper():6}] {a.get('code')} {a.get('state')}/"
                        f"{a.get('inactivation')} since {a.get('since')}: {a.get('message')}"
                    )
            if not v.alerts:
                lines.append("  no active alerts")
            if v.dose_check is not None:
                lines += ["  " + line for line in dose_check_lines(v.dose_check)]
        return "\n".join(lines) if lines else "no beds seen yet"


#: How the dose check's criteria and units read on the board.
_CRITERION_WORDS = {
    "sbp": "SBP",
    "spo2": "SpO2",
    "weight_gain": "weight gain",
    "hr_absolute": "heart rate",
    "hr_relative": "heart rate",
}
_UNIT_WORDS = {"mm[Hg]": "mmHg", "%": "%", "/min": "/min"}


def dose_check_lines(check: dict[str, Any]) -> list[str]:
    """The pre-dose check in words: the verdict, then each criterion with value and limit.

    >>> print("\\n".join(dose_check_lines({"dose_number": 3, "due": "2026-01-02T08:00:00Z",
    ...     "hold_advised": True, "criteria": [
    ...     {"name": "sbp", "value": 86.0, "limit": "< 90", "met": True, "unit": "mm[Hg]"},
    ...     {"name": "hr_relative", "value": None, "limit": "100-130", "met": False,
    ...      "unit": "/min"}]})))
    dose check, dose 3 due 2026-01-02T08:00:00Z: HOLD ADVISED (1 of 2 criteria met)
      MET  SBP 86 mmHg (hold if < 90 mmHg)
      ?    heart rate not measured recently (hold if 100-130 /min)

    A criterion without a recent value is marked ``?``, never ``ok``: a missing value is
    not reassuring (``edge/core/dose.py``, ``HoldCriterion``).
    """
    criteria = [c for c in check.get("criteria") or [] if isinstance(c, dict)]
    met = sum(1 for c in criteria if c.get("met"))
    verdict = "HOLD ADVISED" if check.get("hold_advised") else "no hold criterion met"
    lines = [
        f"dose check, dose {check.get('dose_number', '?')} due {check.get('due', '?')}: "
        f"{verdict} ({met} of {len(criteria)} criteria met)"
    ]
    for c in criteria:
        name = _CRITERION_WORDS.get(str(c.get("name")), str(c.get("name")))
        unit = _UNIT_WORDS.get(str(c.get("unit")), str(c.get("unit") or ""))
        value = c.get("value")
        shown = (
            f"{round(value, 1):g} {unit}"
            if isinstance(value, int | float)
            else "not measured recently"
        )
        mark = "MET" if c.get("met") else ("ok " if isinstance(value, int | float) else "?  ")
        lines.append(f"  {mark}  {name} {shown} (hold if {c.get('limit')} {unit})")
    return lines
