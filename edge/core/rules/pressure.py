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
    """``hypotension``: a validated cycle below the hold limit, medium at once, high when confirmed.

    SBP < ``sbp_limit`` is the label's hold criterion (Proleukin 2.4): the first such
    cycle raises it at **medium at once** (issue 12: waiting for a second cycle cost
    hours); ``cycles`` consecutive low cycles (the next one is usually the re-measure,
    Betof Warner 2024: recheck at 30 min) escalate it to **high**. MAP < ``map_limit``
    with a safe SBP is not a label criterion but Khanna 2023's event, which needs the
    MAP low *for > 15 min* (``shared/docs/clinical.md``): it raises medium only when
    ``cycles`` consecutive cycles are low (one oscillometric MAP off by 10 mmHg is not
    an event, ``shared/docs/signal-processing.md``, "The data"). An unconfirmed
    (medium) one ends as soon as a cycle refutes it (both ``hysteresis_mmhg`` above
    their limits: the NIBP error); a confirmed one after ``cycles`` such cycles. The
    core feeds each cycle the NIBP outlier gate passes; the gate holds a low cycle
    far off its trend at most one re-measure interval (``hypotension_remeasure_min``),
    then passes it.

    >>> from edge.core.validation import NibpCycle
    >>> rule = Hypotension(sbp_limit=90.0, map_limit=65.0, hysteresis_mmhg=5.0, cycles=2)
    >>> a = rule.update(NibpCycle(0.0, "nibp", 86.0, 62.0, 50.0))
    >>> a.phase.value, a.priority.value, a.values
    ('start', 'medium', {'sbp': 86.0, 'map': 62.0, 'cycles_below': 1})
    >>> a = rule.update(NibpCycle(900.0, "nibp", 85.0, 61.0, 50.0))
    >>> a.phase.value, a.priority.value
    ('escalate', 'high')
    >>> rule.update(NibpCycle(1800.0, "nibp", 118.0, 85.0, 70.0)) is None   # one is not enough
    True
    >>> rule.update(NibpCycle(2700.0, "nibp", 117.0, 84.0, 70.0)).phase.value
    'end'
    >>> _ = rule.update(NibpCycle(3600.0, "nibp", 82.0, 60.0, 45.0))      # a lone low reading
    >>> rule.update(NibpCycle(3700.0, "nibp", 116.0, 84.0, 70.0)).phase.value  # refuted
    'end'
    >>> rule.update(NibpCycle(7200.0, "nibp", 112.0, 61.0, 50.0)) is None  # MAP alone: wait
    True
    >>> a = rule.update(NibpCycle(9000.0, "nibp", 110.0, 62.0, 50.0))    # and again: medium
    >>> a.phase.value, a.priority.value
    ('start', 'medium')
    """

    __slots__ = ("cycles", "hysteresis_mmhg", "lows", "map_limit", "normals", "sbp_limit")

    def __init__(
        self, sbp_limit: float, map_limit: float, hysteresis_mmhg: float, cycles: int
    ) -> None:
        self.sbp_limit = sbp_limit
        self.map_limit = map_limit
        self.hysteresis_mmhg = hysteresis_mmhg
        self.cycles = cycles
        self.lows = 0  # consecutive cycles below a limit
        self.normals = 0  # consecutive cycles back above both limits + hysteresis
        self.condition = Condition(AlertCode.HYPOTENSION)

    @classmethod
    def from_thresholds(cls, th: Thresholds) -> Hypotension:
        return cls(th.hold_sbp_mmhg, th.hold_map_mmhg, th.bp_hysteresis_mmhg, th.bp_confirm_cycles)

    def below(self, c: NibpCycle) -> bool:
        """Whether the cycle is below a hold limit."""
        return self.sbp_below(c) or (c.map is not None and c.map < self.map_limit)

    def sbp_below(self, c: NibpCycle) -> bool:
        """Whether the cycle's SBP is below the label's hold limit (medium at once)."""
        return c.sbp is not None and c.sbp < self.sbp_limit

    def update(self, c: NibpCycle) -> Alert | None:
        """A validated cycle, once the outlier gate has passed it (or released it)."""
        cond = self.condition
        sbp, mean = c.sbp, c.map
        below = self.below(c)
        extra = self.hysteresis_mmhg
        clear = (sbp is None or sbp >= self.sbp_limit + extra) and (
            mean is None or mean >= self.map_limit + extra
        )
        if below:
            self.lows += 1
            self.normals = 0
        else:
            self.lows = 0
            self.normals = self.normals + 1 if clear else 0
        rank = cond.rank
        want: Priority | None = None
        confirmed = self.lows >= self.cycles
        sbp_low = self.sbp_below(c)
        if sbp_low:
            want = Priority.HIGH if confirmed or rank == 3 else Priority.MEDIUM
        elif below:  # MAP alone: Khanna's event needs it to last, so a second cycle
            want = Priority.HIGH if rank == 3 else Priority.MEDIUM if confirmed or rank else None
        elif rank == 3 and self.normals < self.cycles:
            want = Priority.HIGH
        elif rank and not clear:  # in the hysteresis band: stays as it is
            want = cond.priority
        if want is None and not cond.active:
            return None
        values: dict[str, Any] = {"sbp": sbp, "map": r1(mean) if mean else None}
        if c.map_derived:
            values["map_derived"] = True
        values["cycles_below"] = self.lows
        msg = (
            f"SBP {sbp if sbp is not None else '-'} / MAP "
            f"{'-' if mean is None else round(mean)} mmHg: below the hold limit "
            f"(SBP < {self.sbp_limit:g} or MAP < {self.map_limit:g})"
            + (
                ""
                if want is Priority.HIGH or not sbp_low
                else ", not yet confirmed by a second cycle"
            )
            if want
            else "blood pressure back above the hold limits"
        )
        return cond.force(c.time, want, msg, values)
