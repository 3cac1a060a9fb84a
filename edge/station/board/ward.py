"""The ward board's state: the reference station model plus bounded history and events.

:class:`Ward` is fed every received MQTT message (:meth:`Ward.receive`); it passes it
to :class:`edge.station.model.Station` (de-duplication by ``msg_id``, ``seq`` gaps,
online/offline, active alerts, latest vitals and dose check), keeps each bed's
history (:mod:`edge.station.board.history`) and tells subscribers about every change
(:meth:`Ward.subscribe`): one event per received message that changed a bed.

No I/O and no clock here: the HTTP server and the MQTT link are in other modules.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import queue
import threading
from dataclasses import dataclass
from typing import Any

from edge.station.board.history import BedHistory
from edge.station.model import TOPIC_PREFIX, Station
from edge.vocabulary import parse_time

log = logging.getLogger(__name__)

#: Sparkline signals on a tile (the issue: "a 24 h sparkline of SBP and SpO2").
SPARK_SIGNALS = ("sbp", "spo2")
#: Alert fields a tile shows (``alerts-active.json``); ``values`` stays in the bed view.
TILE_ALERT_FIELDS = (
    "alert_id",
    "code",
    "source",
    "priority",
    "kind",
    "state",
    "inactivation",
    "since",
    "message",
    "audio_paused_until",
    "acknowledged_by",
)
_RANK = {"high": 3, "medium": 2, "low": 1}


@dataclass(frozen=True, slots=True)
class WardSettings:
    """Bounds of the board's memory; defaults and their reasons in ``docs/board.md``."""

    history_hours: float = 72.0  # the bed view's trend window (issue 15)
    bucket_s: float = 300.0  # 72 h / 300 s = 864 points: below a plot's pixel width
    spark_hours: float = 24.0  # the tile's sparkline (issue 15)
    max_beds: int = 1000  # beds kept; messages for more are dropped and counted
    max_alert_events: int = 500  # per bed: alert events and dose checks kept
    dedup_size: int = 100_000  # msg_ids remembered (the station model's default)
    subscriber_queue: int = 1000  # events buffered per SSE client before it is dropped
    max_subscribers: int = 32  # open event streams


class Subscriber:
    """One event stream: a bounded queue; ``overflowed`` once it could not keep up."""

    __slots__ = ("events", "overflowed")

    def __init__(self, size: int) -> None:
        self.events: queue.Queue[tuple[int, str, str]] = queue.Queue(maxsize=size)
        self.overflowed = False


def level_of(alerts: list[dict[str, Any]]) -> str:
    """The tile colour's level: ``high`` (red), ``medium`` (yellow), ``low`` (cyan) or ``none``.

    Technical alerts below high priority count as ``low`` (cyan, as central stations
    show technical alarms); a high-priority technical alert (``agent_fault``: the bed
    is no longer monitored) stays red, as IEC 60601-1-8 ties red to high priority.

    >>> level_of([{"priority": "medium", "kind": "technical"}])
    'low'
    >>> level_of([{"priority": "medium", "kind": "physiological"}, {"priority": "high"}])
    'high'
    """
    best = 0
    for a in alerts:
        rank = _RANK.get(str(a.get("priority")), 0)
        if a.get("kind") == "technical" and rank < 3:
            rank = min(rank, 1)
        best = max(best, rank)
    return {3: "high", 2: "medium", 1: "low", 0: "none"}[best]


def state_of(online: bool | None, alerts: list[dict[str, Any]]) -> str:
    """``alarm`` (an active, unacknowledged alert), ``latched``, ``acknowledged``,
    ``normal`` or ``offline``: the tile shows each one differently.

    >>> state_of(True, [{"state": "latched", "inactivation": "enabled"}])
    'latched'
    >>> state_of(True, [{"state": "active", "inactivation": "acknowledged"}])
    'acknowledged'
    """
    if any(a.get("state") == "active" and a.get("inactivation") != "acknowledged" for a in alerts):
        return "alarm"
    if any(a.get("state") == "latched" for a in alerts):
        return "latched"
    if alerts:
        return "acknowledged"
    return "offline" if online is False else "normal"


def dose_verdict(check: dict[str, Any] | None) -> str:
    """The pre-dose check in words.

    >>> dose_verdict({"dose_number": 3, "hold_advised": True, "criteria": [
    ...     {"name": "sbp", "value": 84.0, "limit": "< 90", "met": True, "unit": "mm[Hg]"}]})
    'Dose 3: hold advised: sbp 84 mm[Hg] (< 90)'
    >>> dose_verdict({"dose_number": 4, "hold_advised": False, "criteria": []})
    'Dose 4: no hold criterion met'
    """
    if not check:
        return "No dose check yet"
    number = check.get("dose_number", "?")
    if not check.get("hold_advised"):
        missing = [c.get("name") for c in check.get("criteria") or [] if c.get("value") is None]
        tail = f" (no recent data: {', '.join(map(str, missing))})" if missing else ""
        return f"Dose {number}: no hold criterion met{tail}"
    met = []
    for c in check.get("criteria") or []:
        if c.get("met"):
            v = c.get("value")
            shown = "" if v is None else f" {v:g}" if isinstance(v, int | float) else f" {v}"
            met.append(
                f"{c.get('name')}{shown} {c.get('unit', '')}".rstrip() + f" ({c.get('limit')})"
            )
    return f"Dose {number}: hold advised: " + "; ".join(met)


def _time(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        t = parse_time(text)
    except ValueError:
        return None
    return t if math.isfinite(t) else None


class Ward:
    """All beds of the board; thread-safe (the MQTT thread writes, HTTP threads read)."""

    def __init__(self, filter: str | None = None, settings: WardSettings | None = None) -> None:
        self.settings = settings or WardSettings()
        self.station = Station(filter, dedup_size=self.settings.dedup_size)
        self.history: dict[str, BedHistory] = {}
        self.trends: dict[str, dict[str, Any]] = {}
        self.last_nibp: dict[str, float] = {}
        self.last_data: dict[str, float] = {}
        self.counters = {"messages": 0, "duplicates": 0, "bad": 0, "beds_refused": 0, "events": 0}
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        self._ids = itertools.count(1)

    # -- input --------------------------------------------------------------------------

    def receive(self, topic: str, payload: bytes, retained: bool = False) -> dict[str, Any] | None:
        """Take one MQTT message; returns the event it caused (None: nothing changed)."""
        with self._lock:
            bed = _bed_of(topic)
            if (
                bed is not None
                and bed not in self.station.beds
                and len(self.station.beds) >= self.settings.max_beds
            ):
                self.counters["beds_refused"] += 1
                if self.counters["beds_refused"] == 1:
                    log.warning("more than %d beds: ignoring %s", self.settings.max_beds, bed)
                return None
            r = self.station.receive(topic, payload, retained)
            if r is None or r.bed is None:
                return None
            if r.error:
                self.counters["bad"] += 1
                log.warning("%s: %s", topic, r.error)
                return None
            if r.duplicate:
                self.counters["duplicates"] += 1
                return None
            self.counters["messages"] += 1
            body = r.payload if isinstance(r.payload, dict) else {}
            spark = self._record(r.bed, r.kind, body)
            if r.kind.startswith("cmd/") and r.kind.endswith("/reply"):
                event = {"type": "reply", "bed": r.bed, "reply": body}
            else:
                event = {"type": "bed", "bed": self._summary(r.bed, spark=spark)}
            self._emit(event)
            return event

    def _record(self, bed: str, kind: str, body: dict[str, Any]) -> bool:
        """Keep ``body`` in the bed's history; True when its sparkline changed."""
        h = self.history.get(bed)
        if h is None:
            s = self.settings
            h = self.history[bed] = BedHistory(s.bucket_s, s.history_hours, s.max_alert_events)
        spark = False
        if kind == "vitals":
            for r in body.get("readings") or []:
                if not isinstance(r, dict):
                    continue
                t, v, signal = (
                    _time(r.get("time")) or _time(body.get("time")),
                    r.get("value"),
                    r.get("signal"),
                )
                if t is None or not isinstance(v, int | float) or not isinstance(signal, str):
                    continue
                opened = h.add(signal, t, float(v))
                spark = spark or (opened and signal in SPARK_SIGNALS)
                self.last_data[bed] = max(self.last_data.get(bed, t), t)
                if signal == "sbp":
                    self.last_nibp[bed] = max(self.last_nibp.get(bed, t), t)
        elif kind == "trends" and isinstance(body.get("trends"), dict):
            self.trends[bed] = body["trends"]
        elif kind == "alerts" and isinstance(body.get("alert"), dict):
            h.alert_events.append(body["alert"])
        elif kind == "dose-check" and isinstance(body.get("dose_check"), dict):
            check = body["dose_check"]
            if not h.dose_checks or h.dose_checks[-1] != check:
                h.dose_checks.append(check)
        return spark

    # -- views --------------------------------------------------------------------------

    def beds(self) -> list[str]:
        with self._lock:
            return sorted(self.station.beds)

    def summaries(self) -> list[dict[str, Any]]:
        """``GET /api/beds``: one tile per bed, with its sparkline."""
        with self._lock:
            return [self._summary(b, spark=True) for b in sorted(self.station.beds)]

    def summary(self, bed: str) -> dict[str, Any] | None:
        with self._lock:
            return self._summary(bed, spark=True) if bed in self.station.beds else None

    def alerts(self, bed: str) -> list[dict[str, Any]]:
        with self._lock:
            view = self.station.beds.get(bed)
            return [dict(a) for a in view.alerts] if view else []

    def detail(self, bed: str) -> dict[str, Any] | None:
        """``GET /api/beds/{bed}``: the tile plus the bed's bounded history and trends."""
        with self._lock:
            if bed not in self.station.beds:
                return None
            h = self.history.get(bed)
            d = self._summary(bed, spark=False)
            d["alerts_full"] = [dict(a) for a in self.station.beds[bed].alerts]
            d["trends"] = self.trends.get(bed)
            d["history"] = h.to_dict() if h else None
            return d

    def _summary(self, bed: str, *, spark: bool) -> dict[str, Any]:
        view = self.station.beds[bed]
        alerts = [{k: a[k] for k in TILE_ALERT_FIELDS if k in a} for a in view.alerts]
        trends = self.trends.get(bed) or {}
        nibp = self.last_nibp.get(bed)
        d: dict[str, Any] = {
            "bed": bed,
            "online": view.online,
            "level": level_of(alerts),
            "state": state_of(view.online, alerts),
            "alerts": alerts,
            "vitals": {
                s: {k: r.get(k) for k in ("value", "unit", "time", "flags")}
                for s, r in sorted(view.vitals.items())
            },
            "weight_gain_pct": trends.get("weight_gain_pct"),
            "last_nibp": nibp,
            "last_data": self.last_data.get(bed),
            "dose_check": view.dose_check,
            "dose_verdict": dose_verdict(view.dose_check),
            "missing": view.missing(),
            "messages": view.messages,
        }
        if spark:
            d["spark"] = self._spark(bed)
        return d

    def _spark(self, bed: str) -> dict[str, list[list[float]]]:
        h = self.history.get(bed)
        end = self.last_data.get(bed)
        if h is None or end is None:
            return {s: [] for s in SPARK_SIGNALS}
        since = end - self.settings.spark_hours * 3600
        out = {}
        for s in SPARK_SIGNALS:
            series = h.series.get(s)
            out[s] = [[p[0], p[1]] for p in series.points(since)] if series else []
        return out

    # -- events -------------------------------------------------------------------------

    def subscribe(self) -> Subscriber | None:
        """A new event stream, or None when ``max_subscribers`` are open."""
        with self._lock:
            if len(self._subscribers) >= self.settings.max_subscribers:
                return None
            sub = Subscriber(self.settings.subscriber_queue)
            self._subscribers.append(sub)
            return sub

    def streams(self) -> int:
        """Event streams open now."""
        with self._lock:
            return len(self._subscribers)

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def publish_event(self, event: dict[str, Any]) -> None:
        """An event from outside the MQTT stream (e.g. a command reply the link got)."""
        with self._lock:
            self._emit(event)

    def _emit(self, event: dict[str, Any]) -> None:
        n = next(self._ids)
        self.counters["events"] += 1
        data = json.dumps(event, separators=(",", ":"))
        for sub in self._subscribers:
            if sub.overflowed:
                continue
            try:
                sub.events.put_nowait((n, str(event["type"]), data))
            except queue.Full:
                sub.overflowed = True  # the stream ends; the page reconnects and reloads


def _bed_of(topic: str) -> str | None:
    if not topic.startswith(TOPIC_PREFIX):
        return None
    parts = topic[len(TOPIC_PREFIX) :].split("/", 3)
    return "/".join(parts[:3]) if len(parts) == 4 else None
