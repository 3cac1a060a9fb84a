"""SpO2 rules: ``desaturation`` (SatSeconds, seconds) and ``spo2_falling`` (the trend, hours).

Both see accepted SpO2 only (after validation, blanking, the motion check and
the fast-drop filter, :mod:`edge.core.artifacts`).
"""

from __future__ import annotations

from edge.config import Thresholds
from edge.core.indicators import Condition, SatSeconds
from edge.core.rules.base import Rule, r1
from edge.core.trend import LocalLinearTrend
from edge.vocabulary import Alert, AlertCode, Priority


class Desaturation(Rule):
    """``desaturation`` (high): the Nellcor SatSeconds integral, or a Masimo Rapid Desat.

    On when SatSeconds below ``limit`` reaches ``satseconds`` (or three excursions
    start within 60 s), or at once when a sample is ``rapid_points`` or more below
    the limit (``shared/docs/clinical.md``, "Alarm practice"). Once on, it stays on
    until the integral is empty and SpO2 is ``recovery_points`` above the limit, for
    ``off_s`` (hysteresis: a saturation hovering at the limit does not flap).

    >>> d = Desaturation(limit=90.0, satseconds=50.0, rapid_points=10.0, off_s=60.0,
    ...                  recovery_points=2.0)
    >>> [d.update(float(t), 84.0) for t in range(8)][-1] is None
    True
    >>> d.update(8.0, 84.0).phase.value, d.priority.value, round(d.sat.total)
    ('start', 'high', 54)
    >>> d.update(9.0, 78.0) is None                     # already on
    True
    """

    __slots__ = ("rapid_level", "recovery_points", "sat")

    def __init__(
        self,
        limit: float,
        satseconds: float,
        rapid_points: float,
        off_s: float,
        recovery_points: float,
    ) -> None:
        self.sat = SatSeconds(limit, satseconds)
        self.rapid_level = limit - rapid_points
        self.recovery_points = recovery_points
        self.condition = Condition(AlertCode.DESATURATION, off_s=off_s)

    @classmethod
    def from_thresholds(cls, th: Thresholds) -> Desaturation:
        return cls(
            th.hold_spo2_pct,
            th.satseconds_limit,
            th.rapid_desat_points,
            max(th.alarm_delay_s, th.desaturation_off_s),
            th.desaturation_recovery_points,
        )

    def update(self, t: float, v: float) -> Alert | None:
        """An accepted SpO2 sample ``v`` at ``t``."""
        sat = self.sat
        cond = self.condition
        if not (v < sat.limit or sat.total > 0.0 or sat.below or not cond.idle):
            sat.last_time = t  # nothing to integrate: keep the clock only
            return None
        sat.update(t, v)
        rapid = v <= self.rapid_level
        recovered = sat.quiet and v >= sat.limit + self.recovery_points
        want = Priority.HIGH if sat.tripped or rapid or (cond.active and not recovered) else None
        if want is None and cond.idle:
            return None
        msg = (
            f"SpO2 {v:.0f} % below {sat.limit:g} % (SatSeconds {sat.total:.0f})"
            if want
            else f"SpO2 recovered to {v:.0f} %"
        )
        values = {"spo2": v, "satseconds": r1(sat.total), "limit": sat.limit, "rapid": rapid}
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
