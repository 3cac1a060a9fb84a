"""Technical rules: ``sensor_off`` (per device) and ``nibp_overdue``.

They say that data is missing, which is never the same as reassuring. Both are
forced on and off by events (a flag, a clock tick, a new cycle), without a debounce.
"""

from __future__ import annotations

from collections.abc import Mapping

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
    """

    __slots__ = ("interval_min", "interval_s", "last")

    def __init__(self, interval_min: float) -> None:
        self.interval_min = interval_min
        self.interval_s = interval_min * 60.0
        self.last: float | None = None  # time of the last usable cycle
        self.condition = Condition(AlertCode.NIBP_OVERDUE)

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
        """A usable cycle at ``t``."""
        self.last = t
        if not self.condition.active:
            return None
        return self.condition.force(t, None, "NIBP measured again", {})
