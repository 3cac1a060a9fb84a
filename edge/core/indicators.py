"""Indicators and alert conditions: hysteresis, minimum duration, SatSeconds.

The fifth stage of the core (issue #4, "Pipeline" 5). A rule (:mod:`edge.core.rules`)
computes, at each evaluation, the :class:`~edge.vocabulary.Priority` it *wants*
(``None`` = no alert), using a lower limit to stay in a state than to enter it
(hysteresis, see :func:`graded`). A :class:`Condition` turns that stream of wishes into alert
events only when a wish has held for a minimum time and number of
evaluations, so it does not flap: ``start``, ``escalate``, ``de-escalate``,
``end`` (IHE ACM phases, ``shared/docs/messaging-and-ops.md``).

Alarm-fatigue practice behind the delays (``shared/docs/clinical.md``): a
14-19 s delay removes 50-67 % of ignored alarms (Gorges 2009); Dartmouth
paged only after > 30 s (Taenzer 2010); SatSeconds integrates depth x time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from edge.vocabulary import ALERT_KINDS, Alert, Phase, Priority

_PRIORITY_OF_RANK = (None, Priority.LOW, Priority.MEDIUM, Priority.HIGH)
#: The priority an event carries, by rank (an ``end`` carries the rank it ends; 0 unused).
_EVENT_PRIORITY = (Priority.LOW, Priority.LOW, Priority.MEDIUM, Priority.HIGH)
_RANK: dict[Priority | None, int] = {None: 0, Priority.LOW: 1, Priority.MEDIUM: 2, Priority.HIGH: 3}


def rank_of(priority: Priority | None) -> int:
    """A priority's rank for comparisons: ``None`` 0, low 1, medium 2, high 3.

    >>> rank_of(None), rank_of(Priority.HIGH)
    (0, 3)
    """
    return _RANK[priority]


def priority_of(rank: int) -> Priority | None:
    """The priority of a rank (0 -> ``None``).

    >>> priority_of(2)
    <Priority.MEDIUM: 'medium'>
    """
    return _PRIORITY_OF_RANK[rank]


def graded(
    value: float,
    steps: Sequence[tuple[Priority, float]],
    current: Priority | None,
    hysteresis: float,
) -> Priority | None:
    """The priority ``value`` earns on ascending ``steps`` of ``(priority, threshold)``.

    A priority the condition already holds (at or below ``current``) is kept down
    to ``threshold - hysteresis``: entering needs ``value >= threshold``, leaving
    needs ``value < threshold - hysteresis``. For falling quantities pass
    negated values.

    >>> L, M, H = Priority.LOW, Priority.MEDIUM, Priority.HIGH
    >>> steps = [(L, 5.0), (M, 10.0), (H, 15.0)]
    >>> [p and p.value for p in (graded(10.2, steps, None, 1.0), graded(9.5, steps, M, 1.0),
    ...                          graded(8.9, steps, M, 1.0), graded(3.0, steps, L, 1.0))]
    ['medium', 'medium', 'low', None]
    """
    held = _RANK[current]
    earned: Priority | None = None
    for p, threshold in steps:
        if value >= (threshold - hysteresis if _RANK[p] <= held else threshold):
            earned = p
    return earned


class Condition:
    """One alert condition's state machine: wished priority -> debounced alert events.

    Priorities are handled as ranks inside (low 1, medium 2, high 3; :attr:`rank`,
    0 when inactive). A rank is *entered* once the wish has been at or above it for ``on_s``
    seconds (one number, or one per rank) and ``on_count`` consecutive
    evaluations; it is *left* once the wish has been below it for ``off_s``
    seconds and ``off_count`` evaluations. Each change yields one :class:`~edge.vocabulary.Alert`.

    >>> M, H = Priority.MEDIUM, Priority.HIGH
    >>> c = Condition("tachycardia", on_s=60, off_s=0)
    >>> c.update(0.0, M, "HR 112", {}) is None
    True
    >>> c.update(60.0, M, "HR 112", {}).phase.value
    'start'
    >>> c.update(90.0, H, "HR 135", {}) is None     # high must hold too
    True
    >>> c.update(150.0, H, "HR 135", {}).phase.value
    'escalate'
    >>> c.update(160.0, None, "HR 90", {}).phase.value
    'end'
    """

    __slots__ = (
        "_above",
        "_above_n",
        "_below",
        "_below_n",
        "active_since",
        "code",
        "kind",
        "off_count",
        "off_s",
        "on_count",
        "on_s",
        "rank",
        "source",
    )

    def __init__(
        self,
        code: str,
        *,
        on_s: float | Sequence[float] = 0.0,
        off_s: float = 0.0,
        on_count: int = 1,
        off_count: int = 1,
        source: str = "",
    ) -> None:
        self.code = str(code)
        self.kind = ALERT_KINDS[code]
        #: seconds a wish must hold to enter rank 1, 2, 3 (one number: the same for all)
        self.on_s = (0.0, on_s, on_s, on_s) if isinstance(on_s, int | float) else tuple(on_s)
        if len(self.on_s) != 4:
            raise ValueError("on_s is a number or four numbers (index = rank, 0 unused)")
        self.off_s = off_s
        self.on_count = on_count
        self.off_count = off_count
        self.source = source
        self.rank = 0
        self.active_since: float | None = None
        # per rank 1..3: since when / how many evaluations the wish has been >= / < it
        self._above = [math.inf] * 4
        self._above_n = [0] * 4
        self._below = [math.inf] * 4
        self._below_n = [0] * 4

    @property
    def active(self) -> bool:
        return self.rank > 0

    @property
    def priority(self) -> Priority | None:
        return _PRIORITY_OF_RANK[self.rank]

    @property
    def idle(self) -> bool:
        """True when nothing is active or pending: a zero wish then changes nothing."""
        return self.rank == 0 and self._above_n[1] == 0

    def update(
        self, time: float, wish: Priority | None, message: str, values: Mapping[str, Any]
    ) -> Alert | None:
        """Feed the wished priority at ``time``; return the alert event it causes, if any."""
        want = _RANK[wish]
        above, above_n, below, below_n = self._above, self._above_n, self._below, self._below_n
        for r in (1, 2, 3):
            if want >= r:
                if above_n[r] == 0:
                    above[r] = time
                above_n[r] += 1
                below_n[r] = 0
            else:
                if below_n[r] == 0:
                    below[r] = time
                below_n[r] += 1
                above_n[r] = 0
        new = self.rank
        for r in (3, 2, 1):
            if r <= self.rank:
                break
            if above_n[r] >= self.on_count and time - above[r] >= self.on_s[r]:
                new = r
                break
        if new == self.rank:
            while new > 0 and below_n[new] >= self.off_count and time - below[new] >= self.off_s:
                new -= 1
        if new == self.rank:
            return None
        return self._transition(time, new, message, values)

    def _transition(self, time: float, new: int, message: str, values: Mapping[str, Any]) -> Alert:
        old = self.rank
        self.rank = new
        if old == 0:
            phase = Phase.START
            self.active_since = time
        elif new == 0:
            phase = Phase.END
            self.active_since = None
        else:
            phase = Phase.ESCALATE if new > old else Phase.DE_ESCALATE
        priority = _EVENT_PRIORITY[new or old]
        return Alert(
            code=self.code,
            priority=priority,
            kind=self.kind,
            phase=phase,
            time=time,
            message=message,
            values=dict(values),
            source=self.source,
        )

    def force(
        self, time: float, priority: Priority | None, message: str, values: Mapping[str, Any]
    ) -> Alert | None:
        """Set the priority at once (time-driven conditions), resetting the debounce state."""
        rank = _RANK[priority]
        for r in (1, 2, 3):
            self._above_n[r] = 1 if rank >= r else 0
            self._above[r] = time
            self._below_n[r] = 0 if rank >= r else 1
            self._below[r] = time
        if rank == self.rank:
            return None
        return self._transition(time, rank, message, values)


class SatSeconds:
    """Nellcor-style SatSeconds integral of SpO2 below a limit, with the 3-in-60-s rule.

    Each second below ``limit`` adds ``limit - SpO2``; after recovery the sum
    decays the same way (``SpO2 - limit`` per second). :attr:`tripped` is set
    when the sum reaches ``setting``, or when three separate excursions below
    the limit start within 60 s (``shared/docs/clinical.md``, "Alarm practice";
    worked example there: limit 90, setting 50, 2x2 + 4x3 + 6x6 = 52 s).
    Steps longer than ``max_step_s`` (dropouts) count as ``max_step_s``.

    >>> s = SatSeconds(limit=90.0, setting=50.0)
    >>> t = 0.0
    >>> for depth, secs in ((2, 2), (4, 3), (6, 6)):
    ...     for _ in range(secs):
    ...         t += 1.0; s.update(t, 90.0 - depth)
    >>> s.total, s.tripped
    (52.0, True)
    """

    __slots__ = (
        "below",
        "excursions",
        "last_time",
        "limit",
        "max_step_s",
        "setting",
        "total",
        "tripped",
    )

    def __init__(self, limit: float, setting: float, max_step_s: float = 2.0) -> None:
        self.limit = limit
        self.setting = setting
        self.max_step_s = max_step_s
        self.total = 0.0
        self.last_time = -math.inf
        self.below = False
        self.excursions = (-math.inf, -math.inf)  # starts of the two previous excursions
        self.tripped = False

    def update(self, time: float, spo2: float) -> None:
        dt = time - self.last_time
        if dt < 0.0:
            dt = 0.0
        elif dt > self.max_step_s:
            dt = 1.0 if self.last_time == -math.inf else self.max_step_s
        self.last_time = time
        limit = self.limit
        if spo2 < limit:
            self.total += (limit - spo2) * dt
            if not self.below:
                self.below = True
                first, second = self.excursions
                if time - first <= 60.0:
                    self.tripped = True
                self.excursions = (second, time)
        else:
            self.below = False
            if self.total > 0.0:
                self.total = max(0.0, self.total - (spo2 - limit) * dt)
        if self.total >= self.setting:
            self.tripped = True
        elif self.total == 0.0 and not self.below:
            self.tripped = False

    @property
    def quiet(self) -> bool:
        """True when the integral is empty and the last sample was at or above the limit."""
        return self.total == 0.0 and not self.below
