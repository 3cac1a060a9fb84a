"""Pulse rule: ``tachycardia`` from the smoothed pulse (compensation for a leak)."""

from __future__ import annotations

import math

from edge.config import Thresholds
from edge.core.indicators import Condition, graded
from edge.core.rules.base import Rule, r1
from edge.vocabulary import Alert, AlertCode, Priority


class Tachycardia(Rule):
    """``tachycardia``: medium above ``bpm``, high above ``high_bpm`` (Dutcher 2014, Table 3).

    Fed the smoothed pulse (a time-aware average of minute means, see
    :attr:`edge.config.Thresholds.pulse_average_half_life_s`) once a minute. Medium
    must persist ``min_s`` (a whole dosing interval, so post-dose fever tachycardia
    settles first), high ``high_min_s`` ("HR > 130 persisting"); a level is left
    ``hysteresis`` /min below its limit after ``off_s`` (``docs/core.md``).

    >>> rule = Tachycardia(bpm=100.0, high_bpm=130.0, min_s=600.0, high_min_s=120.0,
    ...                    off_s=600.0, hysteresis=5.0)
    >>> out = [rule.update(60.0 * i, 112.0, 112.0) for i in range(11)]
    >>> [(a.phase.value, a.priority.value) for a in out if a]
    [('start', 'medium')]
    >>> rule.update(720.0, 97.0, 97.0) is None     # above 100 - 5: still medium
    True
    """

    __slots__ = ("bpm", "high_bpm", "hysteresis")

    def __init__(
        self,
        bpm: float,
        high_bpm: float,
        min_s: float,
        high_min_s: float,
        off_s: float,
        hysteresis: float,
    ) -> None:
        self.bpm = bpm
        self.high_bpm = high_bpm
        self.hysteresis = hysteresis
        self.condition = Condition(
            AlertCode.TACHYCARDIA, on_s=(0.0, math.inf, min_s, high_min_s), off_s=off_s
        )

    @classmethod
    def from_thresholds(cls, th: Thresholds) -> Tachycardia:
        return cls(
            th.tachycardia_bpm,
            th.tachycardia_high_bpm,
            th.tachycardia_min_s,
            th.tachycardia_high_min_s,
            th.tachycardia_off_s,
            th.tachycardia_hysteresis_bpm,
        )

    def update(self, t: float, hr: float, minute_mean: float) -> Alert | None:
        """The smoothed pulse ``hr`` after a finished minute (whose mean was ``minute_mean``)."""
        cond = self.condition
        steps = ((Priority.MEDIUM, self.bpm), (Priority.HIGH, self.high_bpm))
        want = graded(hr, steps, cond.priority, self.hysteresis)
        if want is None and cond.idle:
            return None
        msg = (
            f"pulse {hr:.0f} /min above {self.bpm:g}"
            if want is Priority.MEDIUM
            else f"pulse {hr:.0f} /min above {self.high_bpm:g}"
            if want is Priority.HIGH
            else f"pulse back to {hr:.0f} /min"
        )
        values = {"pulse": r1(hr), "minute_mean": r1(minute_mean)}
        return cond.update(t, want, msg, values)
