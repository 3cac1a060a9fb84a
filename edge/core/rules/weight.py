"""Weight rule: ``weight_gain`` in three steps over baseline (fluid leaking into tissue)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from edge.config import Thresholds
from edge.core.indicators import Condition, graded, priority_of, rank_of
from edge.core.rules.base import Rule, r1
from edge.core.trend import LocalLinearTrend
from edge.vocabulary import Alert, AlertCode, Priority


class WeightGain(Rule):
    """``weight_gain``: low / medium / high at ``steps`` % over baseline (15 %: Dutcher 2014).

    Entering a step needs the trend's lower bound (level - 1 SD) past it, so one
    noisy standing-scale reading does not do it while a confirmed trend does;
    a step is left once the level is ``hysteresis_pct`` below it (scale error
    about 0.5 %, ``docs/core.md``).

    >>> from edge.core.trend import LocalLinearTrend
    >>> rule = WeightGain(steps=(5.0, 10.0, 15.0), hysteresis_pct=1.0)
    >>> trend = LocalLinearTrend(0.002, 0.09, 0.01, 96.0)
    >>> out = [rule.update(h * 3600.0, trend.update(h * 3600.0, 70.0 + 0.1 * h), 70.0)
    ...        for h in range(0, 96, 8)]
    >>> [(a.phase.value, a.priority.value) for a in out if a]
    [('start', 'low'), ('escalate', 'medium')]
    """

    __slots__ = ("hysteresis_pct", "steps")

    def __init__(self, steps: Sequence[float], hysteresis_pct: float) -> None:
        s0, s1, s2 = steps
        self.steps = ((Priority.LOW, s0), (Priority.MEDIUM, s1), (Priority.HIGH, s2))
        self.hysteresis_pct = hysteresis_pct
        self.condition = Condition(AlertCode.WEIGHT_GAIN)

    @classmethod
    def from_thresholds(cls, th: Thresholds) -> WeightGain:
        return cls(th.weight_gain_pct, th.weight_hysteresis_pct)

    def update(self, t: float, trend: LocalLinearTrend, base: float | None) -> Alert | None:
        """An accepted weight, once ``trend`` has taken it in; ``base`` is the baseline (kg)."""
        if not base:
            return None
        gain = (trend.level - base) / base * 100.0
        sure = (trend.level - math.sqrt(trend.level_var) - base) / base * 100.0
        cond = self.condition
        held = cond.rank
        earned = rank_of(graded(sure, self.steps, None, 0.0))
        kept = rank_of(graded(gain, self.steps, cond.priority, self.hysteresis_pct))
        want = priority_of(max(earned, min(kept, held)))
        if want is None and cond.idle:
            return None
        rate = trend.slope_per_h * 24.0
        msg = (
            f"weight {trend.level:.1f} kg, {gain:+.1f} % over baseline {base:g} kg "
            f"({rate:+.2f} kg/24 h)"
        )
        values = {
            "weight_kg": r1(trend.level),
            "baseline_kg": base,
            "gain_pct": round(gain, 2),
            "kg_per_24h": round(rate, 3),
        }
        return cond.update(t, want, msg, values)
