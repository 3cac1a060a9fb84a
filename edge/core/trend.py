"""Trend estimators: a local-linear-trend Kalman filter, minute means, time-aware averages.

Everything here is plain Python floats: a 2x2 filter costs well under a
microsecond per update that way, while numpy's per-call overhead would
dominate such tiny matrices (``shared/docs/signal-processing.md``,
"Streaming estimators").

Time is given in epoch seconds; the filter works in hours internally so its
slope is "per hour" and its noise densities are per hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_SQRT2 = math.sqrt(2.0)

#: Trend model parameters per signal: q (units^2/h^3), r (units^2), slope prior
#: variance ((units/h)^2), restart after a gap (h). They describe measurement noise
#: and how fast physiology moves, not clinical limits, so they are code constants
#: (``docs/core.md``, "Trends", gives the reasoning for each).
TREND_MODELS: dict[str, tuple[float, float, float, float]] = {
    "sbp": (2.0, 49.0, 4.0, 12.0),
    "map": (1.2, 27.0, 2.0, 12.0),
    "dbp": (1.2, 27.0, 2.0, 12.0),
    "spo2": (0.5, 1.0, 4.0, 2.0),
    "pulse": (20.0, 16.0, 100.0, 2.0),
    "weight": (0.002, 0.09, 0.01, 96.0),
}


def normal_cdf(x: float) -> float:
    """Standard normal cumulative distribution, via :func:`math.erf`.

    >>> round(normal_cdf(1.6448536), 3)
    0.95
    """
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


@dataclass(frozen=True, slots=True)
class TrendEstimate:
    """A snapshot of one trend: level, slope per hour, their (co)variances.

    ``time`` is the time the estimate refers to (it may be projected forward
    from the last measurement, see :meth:`LocalLinearTrend.estimate`).
    """

    time: float
    level: float
    slope_per_h: float
    level_var: float
    slope_var: float
    cov: float
    n: int

    @property
    def level_sd(self) -> float:
        return math.sqrt(max(self.level_var, 0.0))

    @property
    def slope_sd(self) -> float:
        return math.sqrt(max(self.slope_var, 0.0))

    def projected(self, hours: float) -> tuple[float, float]:
        """Mean and standard deviation of the level ``hours`` ahead (no new process noise)."""
        mean = self.level + self.slope_per_h * hours
        var = self.level_var + 2.0 * hours * self.cov + hours * hours * self.slope_var
        return mean, math.sqrt(max(var, 0.0))

    def hours_to(self, limit: float) -> float:
        """Point estimate of the hours until the level reaches ``limit``; ``inf`` if never.

        >>> TrendEstimate(0, 110.0, -5.0, 1.0, 0.1, 0.0, 10).hours_to(90.0)
        4.0
        """
        gap = limit - self.level
        if gap == 0.0:
            return 0.0
        if self.slope_per_h == 0.0 or (gap > 0) != (self.slope_per_h > 0):
            return math.inf
        return gap / self.slope_per_h

    def probability_below(self, limit: float, hours: float) -> float:
        """Probability that the level is below ``limit`` ``hours`` from now.

        This is the confidence of a projection: "SBP will be under 90 within
        4 h with probability 0.93" (Gaussian state, linear extrapolation).
        """
        mean, sd = self.projected(hours)
        if sd <= 0.0:
            return 1.0 if mean < limit else 0.0
        return normal_cdf((limit - mean) / sd)

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "level": round(self.level, 3),
            "slope_per_h": round(self.slope_per_h, 4),
            "slope_sd_per_h": round(self.slope_sd, 4),
            "level_sd": round(self.level_sd, 3),
            "n": self.n,
        }


class LocalLinearTrend:
    """Kalman filter with state (level, slope) on the real time step.

    Model (white-noise acceleration, ``signal-processing.md``)::

        F = [[1, dt], [0, 1]]
        Q = q [[dt^3/3, dt^2/2], [dt^2/2, dt]]      (dt in hours)
        z = level + v,  v ~ N(0, r)

    ``q`` is the slope diffusion (units^2 / h^3): how fast the slope itself
    may wander; ``r`` is the measurement variance. A small ``q`` gives a
    confident slope but reacts slowly to a kink (a stable BP that starts to
    fall); with ``cusum_h`` set, a two-sided CUSUM on the normalised one-step
    prediction errors (Yang, Dumont & Ansermino 2010, ``signal-processing.md``
    "Change detection") detects such a change and re-opens the slope variance
    to its prior, so the filter re-learns the slope within a few samples. After a gap longer than
    ``max_gap_h`` the filter restarts from the new measurement (an old slope
    says nothing about today). Reference: Harvey, *Forecasting, structural time
    series models and the Kalman filter* (1989), the local linear trend model;
    Bar-Shalom et al., *Estimation with Applications to Tracking* (2001), the
    discretised continuous white-noise acceleration model.

    >>> f = LocalLinearTrend(q=0.5, r=4.0)
    >>> for i in range(40):
    ...     _ = f.update(i * 900.0, 120.0 - 0.5 * i)   # -2 mmHg/h, every 15 min
    >>> round(f.slope_per_h, 2)
    -2.0
    """

    __slots__ = (
        "changes",
        "cov",
        "cusum_h",
        "cusum_hi",
        "cusum_lo",
        "last_time",
        "level",
        "level_var",
        "max_gap_h",
        "n",
        "q",
        "r",
        "slope_per_h",
        "slope_prior_var",
        "slope_var",
    )

    def __init__(
        self,
        q: float,
        r: float,
        slope_prior_var: float = 100.0,
        max_gap_h: float = 24.0,
        cusum_h: float | None = None,
    ) -> None:
        if q < 0 or r <= 0 or slope_prior_var <= 0 or max_gap_h <= 0:
            raise ValueError("q >= 0, r > 0, slope_prior_var > 0 and max_gap_h > 0 are required")
        self.q = q
        self.r = r
        self.slope_prior_var = slope_prior_var
        self.max_gap_h = max_gap_h
        self.cusum_h = cusum_h
        self.cusum_hi = 0.0
        self.cusum_lo = 0.0
        self.changes = 0
        self.n = 0
        self.last_time = -math.inf
        self.level = 0.0
        self.slope_per_h = 0.0
        self.level_var = 0.0
        self.slope_var = 0.0
        self.cov = 0.0

    def reset(self) -> None:
        self.n = 0
        self.last_time = -math.inf

    def innovation(self, time: float, z: float) -> tuple[float, float]:
        """(z - predicted level, predicted innovation variance) at ``time``, without updating.

        Used by outlier gates; before the first update it is (0, inf).
        """
        if self.n == 0:
            return 0.0, math.inf
        dt = (time - self.last_time) / 3600.0
        if dt > self.max_gap_h:
            return 0.0, math.inf
        dt = max(dt, 0.0)
        p00 = (
            self.level_var
            + 2.0 * dt * self.cov
            + dt * dt * self.slope_var
            + self.q * dt * dt * dt / 3.0
        )
        return z - (self.level + self.slope_per_h * dt), p00 + self.r

    def update(self, time: float, z: float, r: float | None = None) -> LocalLinearTrend:
        """Fold in measurement ``z`` taken at ``time`` (epoch s); ``r`` overrides the variance."""
        if r is None:
            r = self.r
        if self.n == 0 or (time - self.last_time) / 3600.0 > self.max_gap_h:
            self.level = z
            self.slope_per_h = 0.0
            self.level_var = r
            self.slope_var = self.slope_prior_var
            self.cov = 0.0
            self.n = 1
            self.last_time = time
            return self
        dt = (time - self.last_time) / 3600.0
        if dt < 0.0:
            dt = 0.0  # a same-time (or late) measurement: update without predicting back
        else:
            self.last_time = time
        # predict
        q = self.q
        p11 = self.slope_var
        p01 = self.cov + dt * p11 + q * dt * dt / 2.0
        p00 = self.level_var + 2.0 * dt * self.cov + dt * dt * p11 + q * dt * dt * dt / 3.0
        p11 = p11 + q * dt
        level = self.level + self.slope_per_h * dt
        # update
        s = p00 + r
        y = z - level
        if self.cusum_h is not None:
            e = y / math.sqrt(s)
            self.cusum_hi = max(0.0, self.cusum_hi + e - 0.5)
            self.cusum_lo = max(0.0, self.cusum_lo - e - 0.5)
            if self.cusum_hi > self.cusum_h or self.cusum_lo > self.cusum_h:
                # a change of trend: forget the slope (and some of the level)
                self.cusum_hi = self.cusum_lo = 0.0
                self.changes += 1
                p11 += self.slope_prior_var
                p00 += r
                s = p00 + r
        k0 = p00 / s
        k1 = p01 / s
        self.level = level + k0 * y
        self.slope_per_h += k1 * y
        self.level_var = (1.0 - k0) * p00
        self.cov = (1.0 - k0) * p01
        self.slope_var = p11 - k1 * p01
        self.n += 1
        return self

    def estimate(self, time: float | None = None) -> TrendEstimate | None:
        """The estimate at ``time`` (default: the last measurement), predicted forward."""
        if self.n == 0:
            return None
        if time is None or time <= self.last_time:
            return TrendEstimate(
                self.last_time,
                self.level,
                self.slope_per_h,
                self.level_var,
                self.slope_var,
                self.cov,
                self.n,
            )
        dt = (time - self.last_time) / 3600.0
        q = self.q
        return TrendEstimate(
            time,
            self.level + self.slope_per_h * dt,
            self.slope_per_h,
            self.level_var + 2.0 * dt * self.cov + dt * dt * self.slope_var + q * dt**3 / 3.0,
            self.slope_var + q * dt,
            self.cov + dt * self.slope_var + q * dt * dt / 2.0,
            self.n,
        )


class MinuteMean:
    """Means of a fast signal over fixed time buckets (default 60 s).

    1 Hz SpO2 and pulse are strongly autocorrelated: fed one by one, a Kalman
    filter that assumes independent noise would be overconfident about its
    slope, and would cost a filter update per second. Bucket means are closer
    to independent and cost one add per sample. :meth:`add` returns the
    finished bucket's ``(time, mean, n)`` when ``time`` enters a new bucket.

    >>> m = MinuteMean()
    >>> [m.add(t, 97.0 + (t % 2)) for t in (0.0, 1.0, 2.0, 3.0)][-1] is None
    True
    >>> m.add(60.0, 95.0)
    (3.0, 97.5, 4)
    """

    __slots__ = ("bucket_end", "last_time", "n", "period", "total")

    def __init__(self, period: float = 60.0) -> None:
        self.period = period
        self.bucket_end = -math.inf
        self.total = 0.0
        self.n = 0
        self.last_time = -math.inf

    def add(self, time: float, value: float) -> tuple[float, float, int] | None:
        if time < self.bucket_end:
            self.total += value
            self.n += 1
            self.last_time = time
            return None
        done = (self.last_time, self.total / self.n, self.n) if self.n else None
        self.bucket_end = (time // self.period + 1.0) * self.period
        self.total = value
        self.n = 1
        self.last_time = time
        return done

    def clear(self) -> None:
        self.n = 0
        self.total = 0.0
        self.bucket_end = -math.inf


class ExpAverage:
    """Time-aware exponential average: ``alpha = 1 - exp(-ln2 * dt / half_life)``.

    (``signal-processing.md``, "Time-aware exponential weighting".)

    >>> e = ExpAverage(half_life_s=60.0)
    >>> e.update(0.0, 100.0).update(60.0, 80.0).value
    90.0
    """

    __slots__ = ("half_life_s", "last_time", "value")

    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self.value: float | None = None
        self.last_time = -math.inf

    def update(self, time: float, x: float) -> ExpAverage:
        if self.value is None:
            self.value = x
        else:
            dt = max(time - self.last_time, 0.0)
            alpha = 1.0 - math.exp(-math.log(2.0) * dt / self.half_life_s)
            self.value += alpha * (x - self.value)
        self.last_time = time
        return self
