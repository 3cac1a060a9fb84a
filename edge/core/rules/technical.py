"""Technical rules: ``sensor_off`` (per device), ``nibp_overdue`` and ``signal_lost``.

They say that data is missing, which is never the same as reassuring. Both are
forced on and off by events (a flag, a clock tick, a new cycle), without a debounce.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from edge.core.indicators import Condition
from edge.core.rules.base import Rule, r1
from edge.vocabulary import Alert, AlertCode, Priority


class SensorOff:
    """``sensor_off`` (low, per device): the device has said "no sensor" for ``grace_s``.

    :meth:`off` is fed every reading flagged ``sensor_off``/``no_sensor``, :meth:`on`
    the next good reading from a device. At most ``max_sources`` devices are
    tracked, so a stream of invented source names cannot grow the state.

    >>> rule = SensorOff(grace_s=60.0)
    >>> rule.off("spo2", 0.0) is None, rule.off("spo2", 60.0).phase.value
    (True, 'start')
    >>> rule.active
    {'sensor_off/spo2': 'low'}
    >>> rule.on("spo2", 75.0).message
    'spo2: sensor back on'
    """

    __slots__ = ("_conditions", "_since", "grace_s", "max_sources")

    def __init__(self, grace_s: float, max_sources: int = 16) -> None:
        self.grace_s = grace_s
        self.max_sources = max_sources
        self._since: dict[str, float] = {}  # source -> first time it said no/off sensor
        self._conditions: dict[str, Condition] = {}

    @property
    def pending(self) -> bool:
        """True while any device is (or was last seen) without its sensor."""
        return bool(self._since)

    @property
    def conditions(self) -> Mapping[str, Condition]:
        """One condition per device that has ever been reported: source -> condition."""
        return self._conditions

    @property
    def active(self) -> dict[str, str]:
        """Active ones as ``sensor_off/SOURCE`` -> priority."""
        return {
            f"{c.code}/{src}": c.priority.value for src, c in self._conditions.items() if c.priority
        }

    def off(self, src: str, t: float) -> Alert | None:
        """A reading from ``src`` at ``t`` flagged no/off sensor."""
        since = self._since.get(src)
        if since is None:
            if len(self._since) >= self.max_sources:
                return None
            self._since[src] = since = t
        cond = self._conditions.get(src)
        if (cond is not None and cond.active) or t - since < self.grace_s:
            return None
        if cond is None:
            if len(self._conditions) >= self.max_sources:
                return None
            cond = Condition(AlertCode.SENSOR_OFF, source=src)
            self._conditions[src] = cond
        msg = f"{src or 'device'}: no sensor on the patient for {t - since:.0f} s"
        return cond.force(t, Priority.LOW, msg, {"seconds": r1(t - since)})

    def on(self, src: str, t: float) -> Alert | None:
        """A good reading from ``src`` at ``t``."""
        if self._since.pop(src, None) is None:
            return None
        cond = self._conditions.get(src)
        if cond is None or not cond.active:
            return None
        return cond.force(t, None, f"{src or 'device'}: sensor back on", {})


class NibpOverdue(Rule):
    """``nibp_overdue`` (low): no usable NIBP cycle for ``interval_min``, counted from the first.

    The default interval is the longest usual NIBP cycle, q4 h, plus slack
    (``shared/docs/signal-processing.md``, "The data"; ``docs/core.md``).

    >>> rule = NibpOverdue(interval_min=270.0)
    >>> rule.tick(3600.0) is None                       # no cycle yet: nothing to miss
    True
    >>> rule.measured(0.0) is None, rule.tick(270 * 60.0 + 1).message
    (True, 'no NIBP for 270 min (interval 270 min)')
    >>> rule.measured(20000.0).phase.value
    'end'
    >>> rule.tick(20000.0 + 270 * 60.0 + 1).time
    36201.0
    >>> a = rule.measured(36000.0)                      # measured earlier, arrived late
    >>> a.phase.value, a.time
    ('end', 36201.0)
    """

    __slots__ = ("interval_min", "interval_s", "last")

    def __init__(self, interval_min: float) -> None:
        self.interval_min = interval_min
        self.interval_s = interval_min * 60.0
        self.last: float | None = None  # time of the last usable cycle
        self.condition = Condition(AlertCode.NIBP_OVERDUE)

    @property
    def due(self) -> float:
        """The alert starts only after this time (``inf``: no cycle yet, or already on)."""
        last = self.last
        return math.inf if last is None or self.condition.active else last + self.interval_s

    def tick(self, t: float) -> Alert | None:
        """The time is ``t``."""
        last = self.last
        if last is None or self.condition.active or not t - last > self.interval_s:
            return None
        return self.condition.force(
            t,
            Priority.LOW,
            f"no NIBP for {(t - last) / 60:.0f} min (interval {self.interval_min:g} min)",
            {"minutes_since_nibp": r1((t - last) / 60.0)},
        )

    def measured(self, t: float) -> Alert | None:
        """A cycle measured at ``t`` (also one the outlier gate holds: the cuff worked).

        ``last`` never moves back (a held cycle confirmed later is older than the cycle
        that confirms it), so the alert never ends before it started.
        """
        if self.last is None or t > self.last:
            self.last = t
        if not self.condition.active:
            return None
        # a cycle measured before the alert started but arriving after it (a charting
        # feed, a lagging device) ends it when it arrives, never before it started
        started = self.condition.active_since or self.last
        end = max(self.last, started)
        msg = "NIBP measured again" + (
            f" (the cycle was measured {(started - self.last) / 60:.0f} min before "
            "this alert started and arrived late)"
            if self.last < started
            else ""
        )
        return self.condition.force(end, None, msg, {})


class SignalLost:
    """``signal_lost`` (medium, per signal): a signal the bed was receiving is gone.

    :meth:`good` is fed each valid reading of a watched signal (not flagged, in its
    plausible range: an SpO2 of 0, ``sensor_off`` or ``searching`` is not one);
    :meth:`tick` the time (readings of any signal, and ``Core.tick``, so a replay
    raises it too). Once a signal has had a valid reading, ``limits_s[signal]``
    without another one starts the alert; the next valid reading ends it. This
    closes the gap of hours without SpO2 and no alert at all (issue 12: 189 min
    of SpO2 = 0 in a real record).

    >>> rule = SignalLost({"spo2": 600.0})
    >>> rule.tick(-100.0) is None            # never received: nothing is lost
    True
    >>> rule.good("spo2", 0.0) is None, rule.tick(600.0) is None
    (True, True)
    >>> a = rule.tick(601.0); a.phase.value, a.priority.value, a.source, a.values
    ('start', 'medium', 'spo2', {'minutes_without_valid': 10.0})
    >>> rule.good("spo2", 700.0).phase.value
    'end'

    Only a current reading ends it, not a backlog of old ones (no flapping):

    >>> rule = SignalLost({"spo2": 600.0})
    >>> rule.good("spo2", 0.0) is None, rule.tick(5_000.0).phase.value
    (True, 'start')
    >>> rule.good("spo2", 1_000.0) is None, rule.good("spo2", 4_980.0).phase.value
    (True, 'end')

    One valid reading that ends it, then silence again, raises it again:

    >>> rule.tick(5_580.0) is None, rule.tick(5_581.0).phase.value
    (True, 'start')
    """

    __slots__ = ("_conditions", "_due", "_last", "_next", "_now", "limits_s")

    def __init__(self, limits_s: Mapping[str, float]) -> None:
        self.limits_s = dict(limits_s)
        self._last: dict[str, float] = {}  # signal -> time of its last valid reading
        self._conditions = {s: Condition(AlertCode.SIGNAL_LOST, source=s) for s in self.limits_s}
        # signal -> last + limit, for each signal with a last valid time and no active
        # alert (kept as the state changes, so _next is a min() over a dict, not a scan)
        self._due: dict[str, float] = {}
        self._next = math.inf  # the earliest time a signal can be lost: a min() of _due
        self._now = -math.inf  # the latest time ticked

    @property
    def conditions(self) -> Mapping[str, Condition]:
        return self._conditions

    @property
    def active(self) -> dict[str, str]:
        """Active ones as ``signal_lost/SIGNAL`` -> priority."""
        return {
            f"{c.code}/{s}": c.priority.value for s, c in self._conditions.items() if c.priority
        }

    def restore(
        self,
        last: Mapping[str, float],
        conditions: Mapping[str, Any],
        load: Callable[[Condition, Any], None],
    ) -> None:
        """Take back the last valid times and conditions saved before a restart."""
        for signal, t in last.items():
            if signal in self.limits_s:
                self._last[signal] = t
        for signal, values in conditions.items():
            cond = self._conditions.get(signal)
            if cond is not None:
                load(cond, values)
        self._due = {
            s: v + self.limits_s[s] for s, v in self._last.items() if not self._conditions[s].active
        }
        self._next = min(self._due.values(), default=math.inf)

    def good(self, signal: str, t: float) -> Alert | None:
        """A valid reading of ``signal`` at ``t``."""
        limit = self.limits_s.get(signal)
        if limit is None:
            return None
        cond = self._conditions[signal]
        active = cond.rank > 0
        last = self._last
        due = self._due
        if t > last.get(signal, -math.inf):
            last[signal] = t
            if not active:
                due[signal] = t + limit
        self._next = min(due.values()) if due else math.inf
        if not active or self._now - t > limit / 10.0:
            # only a current reading brings the signal back (within a tenth of the limit,
            # this project's judgement); a device delivering a backlog of old readings
            # would otherwise end and restart the alert on every one
            return None
        # back: watched again from its last valid time, at once (a single valid reading
        # and silence again must raise it again)
        due[signal] = back = self._last[signal] + limit
        if back < self._next:
            self._next = back
        return cond.force(t, None, f"{signal}: valid readings again", {})

    def tick(self, t: float) -> Alert | None:
        """The time is ``t``: start the alert for a signal silent or invalid too long."""
        if t > self._now:
            self._now = t
        if t <= self._next:
            return None
        for signal, last in self._last.items():
            cond = self._conditions[signal]
            limit = self.limits_s[signal]
            if not cond.active and t - last > limit:
                due = self._due
                del due[signal]
                self._next = min(due.values(), default=math.inf)
                minutes = (t - last) / 60.0
                return cond.force(
                    t,
                    Priority.MEDIUM,
                    f"{signal}: no valid reading for {minutes:.0f} min "
                    f"(limit {limit / 60.0:g} min): absent, 0, sensor off or searching",
                    {"minutes_without_valid": r1(minutes)},
                )
        return None
