"""Artifact rejection: SpO2 fast drops and dropouts, bed-scale steps, NIBP outliers.

The second stage of the core (issue #4, "Pipeline" 2). Each filter is a small
streaming object; each rejection is counted by reason in :class:`Rejections`.

Sources (``shared/docs/signal-processing.md`` and ``protocols.md``):

- SpO2: a sample that falls >= 4 % (relative) below the previous accepted
  sample is dropped (pobm / PhysioZoo cleaning). Held alone, that rule would
  also reject a real sudden desaturation forever, so a drop that *persists*
  for ``confirm_s`` seconds is accepted from then on (a short confirmation
  delay of the kind Gorges 2009 found removes half of ignored alarms).
- Weight: readings flagged unstable are dropped by validation; on a bed scale
  "a step change that reverses is an artifact, not fluid". A step bigger than
  ``step_kg`` within ``window_s`` of the last accepted weight is held aside;
  if the weight comes back within the window, the held readings are rejected;
  if it stays, their mean is released as one reading.
- NIBP: a cycle far off its trend's one-step prediction (``sigma`` innovation
  standard deviations and at least ``min_abs`` mmHg) is held until the next
  cycle: if that one is closer to the held value than to the prediction the
  drop is real and both are used, otherwise the held cycle is rejected.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator


class Rejections:
    """Counts of rejected readings by ``signal:reason``.

    >>> r = Rejections()
    >>> r.count("spo2", "flagged"); r.count("spo2", "flagged", 2)
    >>> r.as_dict()
    {'spo2:flagged': 3}
    >>> r.total
    3
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def count(self, signal: str, reason: str, n: int = 1) -> None:
        self._counts[f"{signal}:{reason}"] += n

    def __getitem__(self, key: str) -> int:
        return self._counts[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._counts)

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self._counts.items()))


class SpO2ArtifactFilter:
    """Rejects SpO2 samples that fall faster than physiology allows, unless they persist.

    :meth:`accept` returns ``True`` for a sample to use, ``False`` for an
    artifact. After a dropout longer than ``gap_s`` (probe off, sensor
    changed) the next sample is taken as the new reference.

    >>> f = SpO2ArtifactFilter(drop_pct=4.0, confirm_s=10.0)
    >>> [f.accept(t, v) for t, v in [(0, 97), (1, 97), (2, 84), (3, 96)]]
    [True, True, False, True]
    >>> [f.accept(t, 85) for t in range(10, 22)][-2:]   # a drop that persists is real
    [True, True]
    """

    __slots__ = ("cand_since", "cand_value", "confirm_s", "gap_s", "last", "last_time", "ratio")

    def __init__(self, drop_pct: float = 4.0, confirm_s: float = 10.0, gap_s: float = 30.0):
        self.ratio = 1.0 - drop_pct / 100.0
        self.confirm_s = confirm_s
        self.gap_s = gap_s
        self.last = 0.0  # last accepted value (0: none yet, so anything is accepted)
        self.last_time = -math.inf
        self.cand_since = math.inf
        self.cand_value = 0.0

    def accept(self, time: float, value: float) -> bool:
        if value >= self.last * self.ratio or time - self.last_time > self.gap_s:
            self.last = value
            self.last_time = time
            self.cand_since = math.inf
            return True
        # a fast drop: a candidate new level, accepted once it persists
        if self.cand_since == math.inf or value < self.cand_value * self.ratio:
            self.cand_since = time
            self.cand_value = value
            return False
        self.cand_value = value if value < self.cand_value else self.cand_value
        if time - self.cand_since >= self.confirm_s:
            self.last = value
            self.last_time = time
            self.cand_since = math.inf
            return True
        return False


class WeightStepFilter:
    """Holds bed-scale steps aside until they reverse (artifact) or persist (real).

    :meth:`add` returns a list of ``(time, value)`` weights to use (possibly
    empty) and the number of readings it rejected. Memory is a few floats: the
    held readings are kept as a running sum.

    >>> f = WeightStepFilter(step_kg=1.5, window_s=1800)
    >>> f.add(0, 70.0)
    ([(0, 70.0)], 0)
    >>> f.add(60, 75.0), f.add(120, 75.1)    # someone leans on the bed
    (([], 0), ([], 0))
    >>> f.add(180, 70.1)                      # and stops: the step reversed
    ([(180, 70.1)], 2)
    """

    __slots__ = (
        "held_n",
        "held_since",
        "held_sum",
        "held_time",
        "last",
        "last_time",
        "step_kg",
        "window_s",
    )

    def __init__(self, step_kg: float = 1.5, window_s: float = 1800.0) -> None:
        self.step_kg = step_kg
        self.window_s = window_s
        self.last: float | None = None
        self.last_time = -math.inf
        self.held_n = 0
        self.held_sum = 0.0
        self.held_since = 0.0
        self.held_time = 0.0

    def add(self, time: float, value: float) -> tuple[list[tuple[float, float]], int]:
        last = self.last
        if last is None or (time - self.last_time > self.window_s and not self.held_n):
            self.last, self.last_time = value, time
            return [(time, value)], 0
        if abs(value - last) <= self.step_kg:
            rejected = self.held_n
            self.held_n = 0
            self.held_sum = 0.0
            self.last, self.last_time = value, time
            return [(time, value)], rejected
        # off the accepted level: hold it
        if self.held_n and abs(value - self.held_sum / self.held_n) > self.step_kg:
            # a different step: the earlier held ones never settled
            rejected = self.held_n
            self.held_n, self.held_sum, self.held_since = 1, value, time
            self.held_time = time
            return [], rejected
        if not self.held_n:
            self.held_since = time
        self.held_n += 1
        self.held_sum += value
        self.held_time = time
        if time - self.held_since >= self.window_s:
            mean = self.held_sum / self.held_n
            self.held_n = 0
            self.held_sum = 0.0
            self.last, self.last_time = value, time
            return [(time, mean)], 0
        return [], 0


class NibpOutlierGate:
    """Decides on one NIBP value against its trend's prediction; holds outliers for one cycle.

    :meth:`check` takes the innovation ``(z - predicted, variance)`` of the new
    value and returns one of ``"ok"``, ``"hold"`` (an outlier: wait for the
    next cycle), ``"confirm"`` (the held one was real) or ``"refute"`` (the
    held one was an artifact; the new one is fine).

    >>> g = NibpOutlierGate(sigma=3.0, min_abs=15.0)
    >>> g.check(118.0, -2.0, 64.0)
    'ok'
    >>> g.check(80.0, -40.0, 64.0)
    'hold'
    >>> g.check(119.0, -1.0, 64.0)
    'refute'
    """

    __slots__ = ("held", "min_abs", "sigma")

    def __init__(self, sigma: float = 3.0, min_abs: float = 15.0) -> None:
        self.sigma = sigma
        self.min_abs = min_abs
        self.held: float | None = None

    def check(self, value: float, innovation: float, variance: float) -> str:
        predicted = value - innovation
        if self.held is not None:
            held, self.held = self.held, None
            if abs(value - held) < abs(value - predicted):
                return "confirm"
            return "refute"
        if abs(innovation) > self.min_abs and innovation * innovation > (
            self.sigma * self.sigma * variance
        ):
            self.held = value
            return "hold"
        return "ok"
