"""Artifact rejection: SpO2 fast drops and dropouts, bed-scale steps, NIBP outliers.

The second stage of the core (issue #4, "Pipeline" 2). Each filter is a small
streaming object; each rejection is counted by reason in :class:`Rejections`.

Sources (``shared/docs/signal-processing.md`` and ``protocols.md``):

- SpO2: a sample that falls >= 4 % (relative) below the previous accepted
  sample is dropped (pobm / PhysioZoo cleaning). Held alone, that rule would
  also reject a real sudden desaturation forever, so a drop that *persists*
  for ``confirm_s`` seconds is accepted from then on (a short confirmation
  delay of the kind Gorges 2009 found removes half of ignored alarms).
- SpO2 with an erratic pulse (:class:`MotionDetector`): dips that come with
  motion are not trusted; :class:`SpO2Cleaner` runs the SpO2 rules in order.
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
from collections import Counter, deque
from collections.abc import Iterator
from typing import Protocol


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
        # a fast drop: a candidate new level, accepted once it persists, i.e. stays
        # within the same relative band (random garbage from a loosening probe does not)
        cand = self.cand_value
        if self.cand_since == math.inf or not cand * self.ratio <= value <= cand / self.ratio:
            self.cand_since = time
            self.cand_value = value
            return False
        if time - self.cand_since >= self.confirm_s:
            self.last = value
            self.last_time = time
            self.cand_since = math.inf
            return True
        return False


class FastFall:
    """An SpO2 fall faster than physiology: ``points`` or more within ``window_s``.

    Fed every raw sample (before any filter); :meth:`drop` is how far the sample lies
    below the highest sample of the last ``window_s`` (a sliding maximum: O(1)
    amortised, at most one entry per sample in the window), :meth:`update` whether
    that is ``points`` or more. A probe or motion artifact falls in 1-3 s; a real
    desaturation over tens of seconds (issue 12, ``docs/core.md``).

    >>> f = FastFall(points=9.0, window_s=3.0)
    >>> [f.update(float(t), v) for t, v in enumerate((97, 97, 95, 93, 91, 89, 87))]
    [False, False, False, False, False, False, False]
    >>> [f.update(10.0 + t, v) for t, v in enumerate((97, 97, 90, 87))]
    [False, False, False, True]
    >>> f.drop(14.0, 75.0)
    22.0
    """

    __slots__ = ("peaks", "points", "window_s")

    def __init__(self, points: float, window_s: float) -> None:
        self.points = points
        self.window_s = window_s
        self.peaks: deque[tuple[float, float]] = deque()  # (t, v), values decreasing

    def update(self, t: float, v: float) -> bool:
        return self.drop(t, v) >= self.points

    def drop(self, t: float, v: float) -> float:
        peaks = self.peaks
        if peaks and t < peaks[-1][0]:
            peaks.clear()  # the clock went back: start again
        while peaks and peaks[-1][1] <= v:
            peaks.pop()
        peaks.append((t, v))
        horizon = t - self.window_s
        while peaks[0][0] < horizon:
            peaks.popleft()
        return peaks[0][1] - v


class MotionDetector:
    """Marks motion from an erratic pulse, so SpO2 dips that come with it are not trusted.

    During motion a pulse oximeter's pulse rate jumps from second to second,
    while a real desaturation leaves it steady. The detector follows the mean
    absolute second-to-second pulse change (exponentially, weight 0.3); above
    ``threshold`` /min it marks motion until ``hold_s`` after the last jump.
    An "episode" longer than ``max_s`` is no longer treated as motion (an
    irregular rhythm must not blind the SpO2 alarms). This is alarm validation
    against a second signal in the spirit of Charbonnier & Gentil 2010
    (``signal-processing.md``); the numbers are this project's choice.

    >>> m = MotionDetector()
    >>> [m.pulse(t, 80.0 + (t % 2)) for t in range(5)][-1]
    False
    >>> [m.pulse(5.0 + t, v) for t, v in enumerate((95, 70, 110, 82))][-1]
    True
    >>> m.active(30.0)
    False
    """

    __slots__ = ("hold_s", "jitter", "max_s", "prev", "prev_time", "since", "threshold", "until")

    def __init__(self, threshold: float = 6.0, hold_s: float = 10.0, max_s: float = 600.0):
        self.threshold = threshold
        self.hold_s = hold_s
        self.max_s = max_s
        self.prev = 0.0
        self.prev_time = -math.inf
        self.jitter = 0.0
        self.since = -math.inf
        self.until = -math.inf

    def pulse(self, time: float, value: float) -> bool:
        """Feed an accepted pulse sample; True when it falls in a motion episode."""
        d = abs(value - self.prev) if time - self.prev_time <= 3.0 else 0.0
        self.prev = value
        self.prev_time = time
        self.jitter += 0.3 * (d - self.jitter)
        if self.jitter > self.threshold:
            if time >= self.until:
                self.since = time
            self.until = time + self.hold_s
        return self.active(time)

    def active(self, time: float) -> bool:
        return time < self.until and time - self.since < self.max_s


class SpO2Cleaner:
    """The SpO2 chain in order: plausibility with blanking, motion, fast drops.

    :meth:`reject` returns why a sample is not used (``implausible``, ``blanked``,
    ``motion``, ``fast_change``) or ``None`` to use it. A value outside
    ``min_pct``-``max_pct`` is unusable and blanks the next ``blanking_s`` (pobm /
    PhysioZoo: range 50-100, blank +-10 s, ``signal-processing.md``). While
    ``motion`` (fed by the pulse) marks an episode, samples more than
    ``motion_points`` below the SpO2 before the episode (the last accepted value or
    the ``trend`` level, whichever is higher: the dip may have started a few
    seconds before the pulse gave it away) are rejected; then ``fast_drop``
    (:class:`SpO2ArtifactFilter`) decides.

    >>> from edge.core.trend import LocalLinearTrend
    >>> c = SpO2Cleaner(MotionDetector(), LocalLinearTrend(0.5, 1.0),
    ...                 SpO2ArtifactFilter(4.0, 10.0), min_pct=50.0, blanking_s=10.0)
    >>> [c.reject(t, v) for t, v in ((0, 97), (1, 40), (5, 97), (12, 97), (13, 85))]
    [None, 'implausible', 'blanked', None, 'fast_change']
    """

    __slots__ = (
        "blank_until",
        "blanking_s",
        "episode",
        "fast_drop",
        "max_pct",
        "min_pct",
        "motion",
        "motion_points",
        "motion_ref",
        "trend",
    )

    def __init__(
        self,
        motion: MotionDetector,
        trend: _Level,
        fast_drop: SpO2ArtifactFilter,
        min_pct: float = 50.0,
        blanking_s: float = 10.0,
        max_pct: float = 100.0,
        motion_points: float = 1.0,
    ) -> None:
        self.motion = motion
        self.trend = trend
        self.fast_drop = fast_drop
        self.min_pct = min_pct
        self.max_pct = max_pct
        self.blanking_s = blanking_s
        self.motion_points = motion_points
        self.blank_until = -math.inf
        self.episode = -math.inf  # start of the motion episode motion_ref belongs to
        self.motion_ref = 0.0

    def reject(self, t: float, v: float) -> str | None:
        if not self.min_pct <= v <= self.max_pct:
            self.blank_until = t + self.blanking_s
            return "implausible"
        if t < self.blank_until:
            return "blanked"
        motion = self.motion
        if t < motion.until and motion.active(t):
            if motion.since != self.episode:  # a new episode: SpO2 before it
                self.episode = motion.since
                trend = self.trend
                level = trend.level if trend.n else 0.0
                self.motion_ref = max(self.fast_drop.last, level)
            if v < self.motion_ref - self.motion_points:
                return "motion"
        if not self.fast_drop.accept(t, v):
            return "fast_change"
        return None


class _Level(Protocol):
    """What :class:`SpO2Cleaner` reads of a trend: its level and sample count."""

    @property
    def level(self) -> float: ...

    @property
    def n(self) -> int: ...


class WeightJumpGate:
    """A weight further from the last one than fluid can move in the time between is held
    for the next weighing (a transcription error, a wrong patient, something on the scale).

    CLS gains about +4 kg in 5 days (clinical.md); boluses come 250-500 mL at a time
    (Betof Warner 2024), so more than ``jump_kg`` plus ``kg_per_h`` for each hour since
    the last accepted weight is not fluid. Such a weight is held: the next weighing within
    ``confirm_kg`` of it confirms it (both are used), one that is plausible against the last
    accepted weight refutes it (rejected, ``implausible_jump``): the re-weigh decides, as it
    does for a cuff reading. Runs before :class:`WeightStepFilter` on the raw weights.

    :meth:`add` returns ``(weights to use, rejected count)``.

    >>> g = WeightJumpGate(jump_kg=3.0, kg_per_h=0.25, confirm_kg=1.5)
    >>> g.add(0.0, 59.5), g.add(12 * 3600.0, 70.7)       # +11.2 kg in 12 h: held
    (([(0.0, 59.5)], 0), ([], 0))
    >>> g.add(12.5 * 3600.0, 60.6)                       # the re-weigh: refuted
    ([(45000.0, 60.6)], 1)
    >>> g.add(24.5 * 3600.0, 68.6), g.add(25 * 3600.0, 68.2)   # +8 kg in 12 h, re-weighed
    (([], 0), ([(88200.0, 68.6), (90000.0, 68.2)], 0))
    >>> g.add(49 * 3600.0, 74.0)                         # +5.8 kg in a day: fluid can
    ([(176400.0, 74.0)], 0)
    """

    __slots__ = ("confirm_kg", "held", "jump_kg", "kg_per_h", "last")

    def __init__(self, jump_kg: float, kg_per_h: float, confirm_kg: float) -> None:
        self.jump_kg = jump_kg
        self.kg_per_h = kg_per_h
        self.confirm_kg = confirm_kg
        self.last: tuple[float, float] | None = None  # the last accepted (time, kg)
        self.held: tuple[float, float] | None = None

    def add(self, time: float, value: float) -> tuple[list[tuple[float, float]], int]:
        last = self.last
        if last is None:
            self.last = (time, value)
            return [(time, value)], 0
        held = self.held
        allowed = self.jump_kg + self.kg_per_h * max(0.0, time - last[0]) / 3600.0
        if abs(value - last[1]) <= allowed:
            self.held = None
            self.last = (time, value)
            return [(time, value)], 1 if held is not None else 0
        if held is not None and abs(value - held[1]) <= self.confirm_kg:
            self.held = None
            self.last = (time, value)
            return [held, (time, value)], 0
        self.held = (time, value)
        return [], 1 if held is not None else 0


class WeightStepFilter:
    """Bed-scale steps are equipment or people, never fluid: reject or tare them.

    Fluid accumulates over hours (HDIL-2: about +4 kg in 5 days, clinical.md);
    a change bigger than ``step_kg`` between readings less than ``window_s``
    apart is something put on, taken off or leaning on the bed. Such a step is
    held aside: if the weight comes back within ``window_s``, the held readings
    are rejected (``step_reversed``); if it stays, the scale is re-tared by the
    step (``offset``), so the weight trend carries on from the level before it
    and the held readings are not used (``step_tared``). A later opposite step
    (the thing taken off again) is tared back the same way. Readings hours
    apart (a standing scale) are never treated as steps.

    :meth:`add` returns ``(weights to use, rejected count, reason)``.

    >>> f = WeightStepFilter(step_kg=1.5, window_s=1800)
    >>> f.add(0, 70.0)
    ([(0, 70.0)], 0, '')
    >>> f.add(60, 75.0), f.add(120, 75.1)    # someone leans on the bed
    (([], 0, ''), ([], 0, ''))
    >>> f.add(180, 70.1)                      # and stops: the step reversed
    ([(180, 70.1)], 2, 'step_reversed')
    >>> _ = [f.add(240 + 60 * i, 76.0) for i in range(31)]   # a pump put on the bed
    >>> f.offset, f.add(2200, 76.1)
    (5.9, ([(2200, 70.2)], 0, ''))
    """

    __slots__ = (
        "held_n",
        "held_since",
        "held_sum",
        "last",
        "last_time",
        "offset",
        "step_kg",
        "window_s",
    )

    def __init__(self, step_kg: float = 1.5, window_s: float = 1800.0) -> None:
        self.step_kg = step_kg
        self.window_s = window_s
        self.last: float | None = None
        self.last_time = -math.inf
        self.offset = 0.0
        self.held_n = 0
        self.held_sum = 0.0
        self.held_since = 0.0

    def add(self, time: float, value: float) -> tuple[list[tuple[float, float]], int, str]:
        v = value - self.offset
        last = self.last
        if last is None or (time - self.last_time > self.window_s and not self.held_n):
            self.last, self.last_time = v, time
            return [(time, round(v, 3))], 0, ""
        if abs(v - last) <= self.step_kg:
            rejected = self.held_n
            self.held_n = 0
            self.held_sum = 0.0
            self.last, self.last_time = v, time
            return [(time, round(v, 3))], rejected, "step_reversed" if rejected else ""
        # off the accepted level: hold it
        if self.held_n and abs(v - self.held_sum / self.held_n) > self.step_kg:
            rejected = self.held_n  # a different step: the earlier one never settled
            self.held_n, self.held_sum, self.held_since = 1, v, time
            return [], rejected, "step_unsettled"
        if not self.held_n:
            self.held_since = time
        self.held_n += 1
        self.held_sum += v
        if time - self.held_since >= self.window_s:
            step = self.held_sum / self.held_n - last
            self.offset = round(self.offset + step, 3)
            rejected = self.held_n
            self.held_n = 0
            self.held_sum = 0.0
            self.last_time = time
            return [], rejected, "step_tared"
        return [], 0, ""


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
    >>> g.check(84.0, -26.0, 400.0)              # an uncertain trend (hours since the last)
    'ok'
    >>> g.check(84.0, -26.0, 400.0, strict=True)  # but below the hold limit: re-measure first
    'hold'

    ``strict`` (the core sets it for an SBP below the hold limit) holds a value more
    than ``min_abs`` off its trend whatever the trend's uncertainty: after hours
    without a cycle the prediction is wide, and one cuff artifact of -30 mmHg
    (4 % of cycles, issue 12) would otherwise raise ``hypotension`` on its own. The
    core uses a held low value after one re-measure interval at most.
    """

    __slots__ = ("held", "min_abs", "sigma")

    def __init__(self, sigma: float = 3.0, min_abs: float = 15.0) -> None:
        self.sigma = sigma
        self.min_abs = min_abs
        self.held: float | None = None

    def check(self, value: float, innovation: float, variance: float, strict: bool = False) -> str:
        predicted = value - innovation
        if self.held is not None:
            held, self.held = self.held, None
            if abs(value - held) < abs(value - predicted):
                return "confirm"
            return "refute"
        if abs(innovation) > self.min_abs and (
            strict or innovation * innovation > self.sigma * self.sigma * variance
        ):
            self.held = value
            return "hold"
        return "ok"
