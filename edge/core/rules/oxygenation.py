"""SpO2 rules: ``desaturation`` (depth x duration, seconds) and ``spo2_falling`` (the trend, hours).

Both see accepted SpO2 only (after validation, blanking, the motion check and
the fast-drop filter, :mod:`edge.core.artifacts`).
"""

from __future__ import annotations

import math
from collections import deque

from edge.config import Thresholds
from edge.core.indicators import Condition, SatSeconds
from edge.core.rules.base import Rule, r1
from edge.core.trend import LocalLinearTrend
from edge.vocabulary import Alert, AlertCode, Priority


class Desaturation(Rule):
    """``desaturation`` (high): SpO2 below the limit, sustained in depth x duration.

    The bedside monitor alarms locally within seconds; capleak reports what is
    sustained (issue 12), judged in two depth x duration zones on the mean of the
    accepted samples over the last ``average_s`` (an oximeter averages over 2-16 s,
    ``shared/docs/signal-processing.md``):

    - **deep**: the average at least ``deep_points`` below ``limit`` (86.5 % at 90)
      and a run of samples below the limit for ``min_s`` (Taenzer 2010: page only
      after > 30 s): a sustained 86 % alerts within 60 s;
    - **shallow**: the average below the limit, but not deep, for ``shallow_min_s``:
      a dip to 87-88 % for a minute or two (sleep) does not alert, a saturation
      that stays at 88 % does after 5 min.

    Both also need the Nellcor SatSeconds integral at ``satseconds``
    (``shared/docs/clinical.md``, "Alarm practice"). A deep run with motion
    evidence (:meth:`evidence`: device flags, an erratic pulse, a collapsing
    perfusion index, or a fall physiology cannot make) within ``evidence_s``
    before it or during it needs ``suspect_min_s`` instead (alarm validation
    against a second signal, Charbonnier & Gentil 2010); a run whose only evidence is
    its own fall (:meth:`fast_fall`, faster than physiology) needs ``fast_fall_min_s``:
    a motion spike falls fast and comes back, a level that holds is sustained, so a
    step to 86 % that stays there still alerts within 60 s. The SatSeconds integral
    counts each accepted sample for the time since the previous one, up to ``gap_s``
    (a monitor reporting every 15 s or once a minute), not only for one second. A gap of more than
    ``gap_s`` (150 s: devices that report numerics once a minute, with one missed,
    still make a run) between accepted samples restarts the run and the average.
    Once on, it stays on until the integral is empty and SpO2 is
    ``recovery_points`` above the limit, for ``off_s`` (no flapping at the limit).

    >>> d = Desaturation(limit=90.0, satseconds=50.0, min_s=30.0, suspect_min_s=120.0,
    ...                  evidence_s=30.0, off_s=60.0, recovery_points=2.0, deep_points=3.5,
    ...                  shallow_min_s=300.0, average_s=16.0)
    >>> [d.update(float(t), 80.0) for t in range(20)][-1] is None   # a 20 s dip: nothing
    True
    >>> [d.update(float(t), 97.0) for t in range(20, 200)][-1] is None
    True
    >>> [d.update(200.0 + t, 87.0) for t in range(120)][-1] is None  # shallow, 2 min
    True
    >>> [d.update(float(t), 97.0) for t in range(320, 500)][-1] is None
    True
    >>> out = [d.update(500.0 + t, 86.0) for t in range(61)]       # sustained 86 %
    >>> [(a.phase.value, a.priority.value, a.time - 500.0) for a in out if a]
    [('start', 'high', 30.0)]
    """

    __slots__ = (
        "average_s",
        "deep_level",
        "evidence_s",
        "fast_fall_min_s",
        "gap_s",
        "last_evidence",
        "last_fast_fall",
        "last_time",
        "level",
        "min_s",
        "recovery_points",
        "run_since",
        "sat",
        "shallow_min_s",
        "shallow_since",
        "suspect_min_s",
        "window",
        "window_sum",
    )

    def __init__(
        self,
        limit: float,
        satseconds: float,
        min_s: float,
        suspect_min_s: float,
        evidence_s: float,
        off_s: float,
        recovery_points: float,
        deep_points: float = 3.5,
        shallow_min_s: float = 300.0,
        average_s: float = 16.0,
        gap_s: float = 150.0,
        fast_fall_min_s: float | None = None,
    ) -> None:
        self.sat = SatSeconds(limit, satseconds, max_step_s=gap_s)
        self.fast_fall_min_s = suspect_min_s if fast_fall_min_s is None else fast_fall_min_s
        self.min_s = min_s
        self.suspect_min_s = suspect_min_s
        self.evidence_s = evidence_s
        self.recovery_points = recovery_points
        self.deep_level = limit - deep_points
        self.shallow_min_s = shallow_min_s
        self.average_s = average_s
        self.window: deque[tuple[float, float]] = deque()  # (t, SpO2) of the last average_s
        self.window_sum = 0.0
        self.gap_s = gap_s
        self.level = math.nan  # the mean SpO2 over the window
        self.run_since = math.inf  # first sample of the current run below the limit
        self.shallow_since = math.inf  # since when the average has been below the limit
        self.last_time = -math.inf  # last accepted sample
        self.last_evidence = -math.inf  # last motion/artifact evidence
        self.last_fast_fall = -math.inf  # last fall faster than physiology
        self.condition = Condition(AlertCode.DESATURATION, off_s=off_s)

    @classmethod
    def from_thresholds(cls, th: Thresholds) -> Desaturation:
        return cls(
            th.hold_spo2_pct,
            th.satseconds_limit,
            th.desaturation_min_s,
            th.desaturation_suspect_min_s,
            th.desaturation_evidence_s,
            max(th.alarm_delay_s, th.desaturation_off_s),
            th.desaturation_recovery_points,
            th.desaturation_deep_points,
            th.desaturation_shallow_min_s,
            th.desaturation_average_s,
            fast_fall_min_s=th.desaturation_fast_fall_min_s,
        )

    def evidence(self, t: float) -> None:
        """Motion or artifact evidence at ``t`` (a flag, an erratic pulse, PI collapse, ...)."""
        if t > self.last_evidence:
            self.last_evidence = t

    def fast_fall(self, t: float) -> None:
        """SpO2 fell faster than physiology at ``t`` (:class:`edge.core.artifacts.FastFall`)."""
        if t > self.last_fast_fall:
            self.last_fast_fall = t

    def update(self, t: float, v: float) -> Alert | None:
        """An accepted SpO2 sample ``v`` at ``t``."""
        sat = self.sat
        cond = self.condition
        dt = t - self.last_time
        gap = dt > self.gap_s
        self.last_time = t
        window = self.window
        if gap or dt < 0.0:  # a dropout, or the clock went back (a timeline reset)
            window.clear()
            self.window_sum = 0.0
        window.append((t, v))
        total = self.window_sum + v
        horizon = t - self.average_s
        while window[0][0] <= horizon:
            total -= window.popleft()[1]
        self.window_sum = total
        level = total / len(window)
        self.level = level
        limit = sat.limit
        if level < limit:
            if gap or self.shallow_since == math.inf:
                self.shallow_since = t
        else:
            self.shallow_since = math.inf
        if v < limit:
            if gap or self.run_since == math.inf:
                self.run_since = t
        else:
            self.run_since = math.inf
        if not (v < limit or sat.total > 0.0 or sat.below or not cond.idle):
            sat.last_time = t  # nothing to integrate: keep the clock only
            return None
        if gap:
            sat.total = 0.0  # a dropout: the integral starts again
        sat.update(t, v)
        since = self.run_since
        held = t - since
        if sat.total < sat.setting:
            sustained = False
        elif t - self.shallow_since >= self.shallow_min_s:
            sustained = True  # shallow (or deep) and long
        elif held < self.min_s or level > self.deep_level:
            sustained = False
        elif self.last_evidence >= since - self.evidence_s:
            sustained = held >= self.suspect_min_s
        elif self.last_fast_fall >= since - self.evidence_s:
            sustained = held >= self.fast_fall_min_s
        else:
            sustained = True
        recovered = sat.quiet and v >= limit + self.recovery_points
        want = Priority.HIGH if sustained or (cond.active and not recovered) else None
        if want is None and cond.idle:
            return None
        msg = (
            f"SpO2 {v:.0f} % (average {level:.0f} %) below {limit:g} % for {held:.0f} s "
            f"(SatSeconds {sat.total:.0f})"
            if want and math.isfinite(held)
            else f"SpO2 {v:.0f} %: desaturation not yet recovered"
            if want
            else f"SpO2 recovered to {v:.0f} %"
        )
        values = {
            "spo2": v,
            "spo2_average": r1(level),
            "satseconds": r1(sat.total),
            "limit": limit,
            "seconds_below": r1(held) if math.isfinite(held) else 0.0,
        }
        return cond.update(t, want, msg, values)


class SpO2Falling(Rule):
    """``spo2_falling`` (medium): the SpO2 trend of minute means drifts down from baseline.

    The limit is ``min(floor, baseline - drop_points)`` (Dutcher 2014: oxygen to keep
    SpO2 >= 95; a probe change alone moves SpO2 by 1-2 points); the trend level must
    stay below it for ``on_s`` and is released ``hysteresis`` points above it after
    ``off_s`` (``docs/core.md``). Without a baseline there is no drift to speak of.

    >>> from edge.core.trend import LocalLinearTrend
    >>> rule = SpO2Falling(floor=95.0, drop_points=4.0, on_s=1800.0, off_s=600.0,
    ...                    hysteresis=1.0)
    >>> trend = LocalLinearTrend(0.5, 1.0)
    >>> out = [rule.update(60.0 * i, trend.update(60.0 * i, 91.0), 97.0) for i in range(32)]
    >>> [(a.phase.value, a.values["limit"]) for a in out if a]
    [('start', 93.0)]
    """

    __slots__ = ("drop_points", "floor", "hysteresis")

    def __init__(
        self, floor: float, drop_points: float, on_s: float, off_s: float, hysteresis: float
    ) -> None:
        self.floor = floor
        self.drop_points = drop_points
        self.hysteresis = hysteresis
        self.condition = Condition(AlertCode.SPO2_FALLING, on_s=on_s, off_s=off_s)

    @classmethod
    def from_thresholds(cls, th: Thresholds) -> SpO2Falling:
        return cls(
            th.spo2_floor_pct,
            th.spo2_drop_points,
            th.spo2_falling_min_s,
            th.spo2_falling_off_s,
            th.spo2_falling_hysteresis_points,
        )

    def update(self, t: float, trend: LocalLinearTrend, base: float | None) -> Alert | None:
        """The SpO2 trend after a finished minute; ``t`` is the time of the closing reading."""
        if base is None:
            return None  # "a drift down from baseline" needs the baseline first
        limit = min(self.floor, base - self.drop_points)
        cond = self.condition
        level = trend.level
        want = (
            Priority.MEDIUM if level < (limit + self.hysteresis if cond.active else limit) else None
        )
        if want is None and cond.idle:
            return None
        msg = (
            f"SpO2 trend {level:.1f} % below {limit:.1f} % "
            f"(baseline {f'{base:.1f}' if base else '-'})"
            if want
            else f"SpO2 trend back to {level:.1f} %"
        )
        values = {
            "spo2_level": r1(level),
            "spo2_slope_per_h": round(trend.slope_per_h, 2),
            "limit": r1(limit),
            "baseline": base,
        }
        return cond.update(t, want, msg, values)
