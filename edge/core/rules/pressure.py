"""Blood-pressure rules on each validated NIBP cycle: ``bp_falling`` and ``hypotension``.

Both run after the outlier gate (:class:`~edge.core.artifacts.NibpOutlierGate`)
and need ``cycles`` consecutive cycles to start and to end (one +-5 mmHg reading
is not a trend, ``shared/docs/signal-processing.md``, "The data").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from edge.config import Thresholds
from edge.core.baselines import Baselines
from edge.core.indicators import Condition
from edge.core.rules.base import Rule, r1
from edge.core.trend import LocalLinearTrend
from edge.core.validation import NibpCycle
from edge.vocabulary import Alert, AlertCode, Priority


class BpFalling(Rule):
    """``bp_falling`` (medium): SBP far below baseline, or SBP/MAP projected below the limit.

    Two ways in (``docs/core.md``): the SBP trend level at least ``fall_pct`` below
    its baseline (SBP only: IL-2 vasodilation widens the pulse pressure, so MAP
    falls 20 % while SBP is still safe), or a falling SBP or MAP trend (at least
    ``min_cycles`` cycles) whose probability of being under its hold limit within
    ``horizon_h`` is at least ``confidence``. Once on, the % rule is eased by
    ``hysteresis_mmhg`` and the projection needs only ``release``.

    >>> from edge.core.baselines import Baselines
    >>> from edge.core.validation import NibpCycle
    >>> rule = BpFalling(limits={"sbp": 90.0, "map": 65.0}, fall_pct=20.0, horizon_h=4.0,
    ...                  confidence=0.8, release=0.5, hysteresis_mmhg=5.0, min_cycles=3,
    ...                  cycles=2)
    >>> trends = {s: LocalLinearTrend(2.0, 49.0, 4.0, 12.0) for s in ("sbp", "map")}
    >>> base = Baselines(2.0, {"sbp": 125.0, "map": 90.0})
    >>> out = []
    >>> for i, sbp in enumerate((96.0, 95.0, 94.0)):
    ...     t = 3600.0 * i
    ...     _ = trends["sbp"].update(t, sbp)
    ...     out.append(rule.update(NibpCycle(t, "nibp", sbp, 70.0, 60.0), trends, base))
    >>> [(a.phase.value, a.priority.value) for a in out if a]
    [('start', 'medium')]
    """

    __slots__ = (
        "confidence",
        "fall_pct",
        "horizon_h",
        "hysteresis_mmhg",
        "limits",
        "min_cycles",
        "release",
    )

    def __init__(
        self,
        limits: Mapping[str, float],
        fall_pct: float,
        horizon_h: float,
        confidence: float,
        release: float,
        hysteresis_mmhg: float,
        min_cycles: int,
        cycles: int,
    ) -> None:
        self.limits = tuple(limits.items())
        self.fall_pct = fall_pct
        self.horizon_h = horizon_h
        self.confidence = confidence
        self.release = release
        self.hysteresis_mmhg = hysteresis_mmhg
        self.min_cycles = min_cycles
        self.condition = Condition(AlertCode.BP_FALLING, on_count=cycles, off_count=cycles)

    @classmethod
    def from_thresholds(cls, th: Thresholds) -> BpFalling:
        return cls(
            {"sbp": th.hold_sbp_mmhg, "map": th.hold_map_mmhg},
            th.bp_fall_pct,
            th.bp_projection_h,
            th.bp_projection_confidence,
            th.bp_projection_release,
            th.bp_hysteresis_mmhg,
            th.bp_projection_min_cycles,
            th.bp_confirm_cycles,
        )

    def update(
        self, cycle: NibpCycle, trends: Mapping[str, LocalLinearTrend], baselines: Baselines
    ) -> Alert | None:
        """A validated cycle, once the SBP/MAP ``trends`` have taken it in."""
        t = cycle.time
        cond = self.condition
        active = cond.active
        values: dict[str, Any] = {}
        reasons: list[str] = []
        for signal, limit in self.limits:
            trend = trends[signal]
            if trend.n == 0 or trend.last_time != t:
                continue
            est = trend.estimate(t)
            assert est is not None
            base = baselines.value(signal)
            values[f"{signal}_level"] = r1(est.level)
            values[f"{signal}_slope_per_h"] = round(est.slope_per_h, 2)
            if base:
                below_pct = (base - est.level) / base * 100.0
                values[f"{signal}_baseline"] = r1(base)
                values[f"{signal}_below_baseline_pct"] = r1(below_pct)
                need = self.fall_pct - (self.hysteresis_mmhg / base * 100.0 if active else 0.0)
                # % below baseline on SBP only (the label criterion); MAP counts
                # through its projection to the MAP limit below
                if signal == "sbp" and below_pct >= need:
                    reasons.append(f"{signal.upper()} {below_pct:.0f} % below baseline")
            if est.n >= self.min_cycles and est.slope_per_h < 0:
                p = est.probability_below(limit, self.horizon_h)
                hours = est.hours_to(limit)
                values[f"{signal}_probability"] = round(p, 3)
                if math.isfinite(hours):
                    values[f"{signal}_hours_to_limit"] = round(hours, 2)
                if p >= (self.release if active else self.confidence):
                    reasons.append(
                        f"{signal.upper()} projected below {limit:g} within "
                        f"{self.horizon_h:g} h (p={p:.2f})"
                    )
        want = Priority.MEDIUM if reasons else None
        if want is None and cond.idle:
            return None
        msg = "; ".join(reasons) if reasons else "blood pressure trend recovered"
        return cond.update(t, want, msg, values)


class Hypotension(Rule):
    """``hypotension`` (high): the label hold criterion on a validated cycle.

    SBP < ``sbp_limit`` (Proleukin label 2.4) or MAP < ``map_limit`` (Khanna 2023)
    on ``cycles`` consecutive cycles; it ends once both are ``hysteresis_mmhg``
    back above their limits (the NIBP error, ``shared/docs/signal-processing.md``).

    >>> from edge.core.validation import NibpCycle
    >>> rule = Hypotension(sbp_limit=90.0, map_limit=65.0, hysteresis_mmhg=5.0, cycles=2)
    >>> rule.update(NibpCycle(0.0, "nibp", 86.0, 62.0, 50.0)) is None
    True
    >>> a = rule.update(NibpCycle(900.0, "nibp", 85.0, 61.0, 50.0))
    >>> a.phase.value, a.priority.value, a.values
    ('start', 'high', {'sbp': 85.0, 'map': 61.0})
    """

    __slots__ = ("hysteresis_mmhg", "map_limit", "sbp_limit")

    def __init__(
        self, sbp_limit: float, map_limit: float, hysteresis_mmhg: float, cycles: int
    ) -> None:
        self.sbp_limit = sbp_limit
        self.map_limit = map_limit
        self.hysteresis_mmhg = hysteresis_mmhg
        self.condition = Condition(AlertCode.HYPOTENSION, on_count=cycles, off_count=cycles)

    @classmethod
    def from_thresholds(cls, th: Thresholds) -> Hypotension:
        return cls(th.hold_sbp_mmhg, th.hold_map_mmhg, th.bp_hysteresis_mmhg, th.bp_confirm_cycles)

    def update(self, c: NibpCycle) -> Alert | None:
        """A validated cycle."""
        cond = self.condition
        extra = self.hysteresis_mmhg if cond.active else 0.0
        low_sbp = c.sbp is not None and c.sbp < self.sbp_limit + extra
        low_map = c.map is not None and c.map < self.map_limit + extra
        want = Priority.HIGH if low_sbp or low_map else None
        if want is None and cond.idle:
            return None
        values: dict[str, Any] = {"sbp": c.sbp, "map": r1(c.map) if c.map else None}
        if c.map_derived:
            values["map_derived"] = True
        msg = (
            f"SBP {c.sbp if c.sbp is not None else '-'} / MAP "
            f"{'-' if c.map is None else round(c.map)} mmHg: below the hold limit "
            f"(SBP < {self.sbp_limit:g} or MAP < {self.map_limit:g})"
            if want
            else "blood pressure back above the hold limits"
        )
        return cond.update(c.time, want, msg, values)
