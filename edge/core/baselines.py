"""Baselines: the patient's pre-treatment weight, BP and SpO2, explicit and inspectable.

The fourth stage of the core (issue #4, "Pipeline" 4). A baseline comes from
(in order of precedence) a command (``set``), the configuration
(``[patient] baseline_*``), or is learned as the **median** of accepted values
(robust to one dip or outlier, issue 12) over the first ``learn_h`` hours of
that signal (``thresholds.baseline_learn_h``), closed early by the first IL-2
dose: after a dose the values are no longer pre-treatment. A learned **BP**
baseline needs a quality (issue 12: "learned, n=2" moved every %-rule): at
least ``min_cycles`` cycles spanning at least ``min_span_h`` hours; its window
stays open past ``learn_h`` until it has them, and if the first dose comes
first the BP baseline stays unset (reported with source ``insufficient``), so
the %-below-baseline rule waits for a configured or commanded value. Each
baseline reports its source, ``n`` and ``spread`` (1.4826 x the median absolute
deviation: a robust SD, as the Hampel filter uses, ``signal-processing.md``).
Weight gain, "% below baseline" and "points below baseline" are all measured
against these values (``shared/docs/clinical.md``: weight gain > 15 % over
baseline; Betof Warner 2024 sets a BP target on admission).

>>> b = Baselines(learn_h=2.0)
>>> for t, w in ((0.0, 70.0), (1800.0, 70.4), (7300.0, 71.0)):
...     _ = b.observe("weight", t, w)
>>> b.get("weight").to_dict()
{'value': 70.2, 'source': 'learned', 'n': 2, 'spread': 0.297}
>>> b.set("weight", 68.0, 8000.0).source
'command'
>>> for t, sbp in ((0.0, 121.0), (1200.0, 96.0), (2400.0, 124.0), (3600.0, 119.0)):
...     _ = b.observe("sbp", t, sbp)             # one post-dose dip: the median ignores it
>>> b.close_due(7200.0)[0].to_dict()
{'value': 120.0, 'source': 'learned', 'n': 4, 'spread': 3.706, 'span_h': 1.0}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Signals with a baseline.
BASELINE_SIGNALS = ("weight", "sbp", "map", "spo2", "pulse")
#: Signals whose learned baseline needs a quality (cycles over hours) before it is used.
QUALITY_SIGNALS = ("sbp", "map")
#: At most this many values are kept per learning window (bounded memory).
_MAX_VALUES = 720


def _median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def _spread(values: list[float], centre: float) -> float:
    """1.4826 x the median absolute deviation: a robust SD."""
    return 1.4826 * _median([abs(x - centre) for x in values])


@dataclass(frozen=True, slots=True)
class Baseline:
    """One baseline: its value, where it came from (config/command/learned), when, from how many."""

    signal: str
    value: float
    source: str
    time: float | None
    n: int = 0
    spread: float | None = None
    span_h: float | None = None
    #: True when it came from the state saved before a restart (``restored`` in ``trends``)
    restored: bool = field(default=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": round(self.value, 3), "source": self.source, "n": self.n}
        if self.spread is not None:
            d["spread"] = round(self.spread, 3)
        if self.span_h is not None:
            d["span_h"] = round(self.span_h, 2)
        if self.restored:
            d["restored"] = True
        return d


class _Learner:
    __slots__ = ("last", "n", "start", "values")

    def __init__(self) -> None:
        self.start = math.inf
        self.last = -math.inf
        self.values: list[float] = []
        self.n = 0


class Baselines:
    """Holds the baselines and learns the missing ones from the first hours."""

    __slots__ = (
        "_fixed",
        "_learning",
        "_poor",
        "closed_at",
        "learn_s",
        "min_cycles",
        "min_span_s",
    )

    def __init__(
        self,
        learn_h: float = 2.0,
        configured: Mapping[str, float | None] | None = None,
        min_cycles: int = 4,
        min_span_h: float = 1.0,
    ) -> None:
        self.learn_s = learn_h * 3600.0
        self.min_cycles = min_cycles
        self.min_span_s = min_span_h * 3600.0
        self._poor: dict[str, Baseline] = {}  # BP windows closed without the quality
        self._fixed: dict[str, Baseline] = {}
        self._learning: dict[str, _Learner] = {s: _Learner() for s in BASELINE_SIGNALS}
        self.closed_at = math.inf  # first dose: learning windows end here
        for signal, value in (configured or {}).items():
            if value is not None:
                self._fixed[signal] = Baseline(signal, float(value), "config", None, 0)
                self._learning.pop(signal, None)

    def get(self, signal: str) -> Baseline | None:
        return self._fixed.get(signal)

    def value(self, signal: str) -> float | None:
        b = self._fixed.get(signal)
        return None if b is None else b.value

    def set(self, signal: str, value: float, time: float | None) -> Baseline:
        """Set a baseline by command (``set_baseline``); stops learning it."""
        if signal not in BASELINE_SIGNALS:
            raise ValueError(f"no baseline for signal {signal!r}; known: {BASELINE_SIGNALS}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"baseline must be a positive number, got {value!r}")
        b = Baseline(signal, float(value), "command", time, 0)
        self._fixed[signal] = b
        self._learning.pop(signal, None)
        self._poor.pop(signal, None)
        return b

    def dose_given(self, time: float) -> None:
        """The first dose closes every learning window (what came before is pre-treatment)."""
        self.closed_at = min(self.closed_at, time)
        self.close_due(time)

    def _good(self, signal: str, lr: _Learner) -> bool:
        """Whether a learning window has the quality its baseline needs."""
        if signal not in QUALITY_SIGNALS:
            return True
        return lr.n >= self.min_cycles and lr.last - lr.start >= self.min_span_s

    def _end(self, signal: str, lr: _Learner) -> float:
        """When the window closes: after learn_s (BP: once it has the quality), or dose 1."""
        end = lr.start + self.learn_s
        if not self._good(signal, lr):
            end = math.inf
        return min(end, self.closed_at)

    @property
    def next_close(self) -> float:
        """The earliest time a learning window with data in it closes (``inf``: none)."""
        return min(
            (self._end(signal, lr) for signal, lr in self._learning.items() if lr.n),
            default=math.inf,
        )

    def close_due(self, now: float) -> list[Baseline]:
        """Turn every learning window that has ended by ``now`` into a baseline."""
        done = [
            self._finish(signal, lr, now)
            for signal, lr in list(self._learning.items())
            if lr.n and now >= self._end(signal, lr)
        ]
        return [b for b in done if b.source == "learned"]

    def _finish(self, signal: str, lr: _Learner, time: float) -> Baseline:
        value = _median(lr.values)
        spread = round(_spread(lr.values, value), 3)
        span_h = (lr.last - lr.start) / 3600.0 if signal in QUALITY_SIGNALS else None
        del self._learning[signal]
        if not self._good(signal, lr):
            b = Baseline(signal, round(value, 6), "insufficient", time, lr.n, spread, span_h)
            self._poor[signal] = b  # reported, never used
            return b
        b = Baseline(signal, round(value, 6), "learned", time, lr.n, spread, span_h)
        self._fixed[signal] = b
        return b

    def observe(self, signal: str, time: float, value: float) -> Baseline | None:
        """Feed an accepted value; returns the baseline when it has just been learned."""
        lr = self._learning.get(signal)
        if lr is None:
            return None
        if lr.n == 0:
            lr.start = time
        end = self._end(signal, lr)
        if time < end or lr.n == 0:
            if len(lr.values) < _MAX_VALUES:
                lr.values.append(value)
            lr.n += 1
            lr.last = max(lr.last, time)
            if time < self._end(signal, lr):
                return None
        b = self._finish(signal, lr, time)
        return b if b.source == "learned" else None

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Baselines in use, and BP ones closed without the quality (source ``insufficient``)."""
        out = {**self._poor, **self._fixed}
        return {s: b.to_dict() for s, b in sorted(out.items())}

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state for a restart (:meth:`restore`): baselines, learn windows, first dose.

        >>> b = Baselines(2.0, {"spo2": 97.0})
        >>> _ = b.observe("weight", 0.0, 70.0); _ = b.set("sbp", 125.0, 10.0)
        >>> c = Baselines(2.0, {"spo2": 97.0}); c.restore(b.snapshot())
        >>> c.get("sbp").source, c.get("sbp").restored, c.snapshot()["learning"]["weight"]
        ('command', True, [0.0, 0.0, 1, [70.0]])
        """
        return {
            "fixed": {
                s: [b.value, b.source, b.time, b.n, b.spread, b.span_h]
                for s, b in self._fixed.items()
                if b.source != "config"  # the configuration of this start decides those
            },
            # [start, last, n, values] (issue 12: the median needs the values)
            "learning": {
                s: [lr.start, lr.last, lr.n, list(lr.values)]
                for s, lr in self._learning.items()
                if lr.n
            },
            "closed_at": self.closed_at,
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take back a :meth:`snapshot` taken before a restart; raises ValueError on a bad one.

        Precedence holds across the restart: a commanded baseline comes back over the
        configuration, a learned one only where the configuration now has none; a
        window still learning goes on from its sums.
        """
        try:
            fixed = {str(s): _fixed(f) for s, f in dict(data.get("fixed", {})).items()}
            learning = {str(s): _learner(f) for s, f in dict(data.get("learning", {})).items()}
            closed_at = float(data.get("closed_at", math.inf))
        except (TypeError, ValueError) as e:
            raise ValueError(f"bad baselines state: {e}") from None
        for signal, (value, source, time, n, spread, span_h) in fixed.items():
            if signal not in BASELINE_SIGNALS or source not in ("command", "learned"):
                raise ValueError(f"bad baseline {signal!r} from {source!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"bad baseline {signal!r}: {value!r}")
            held = self._fixed.get(signal)
            if source == "learned" and held is not None:
                continue  # configured now: the configuration wins over a learned value
            self._fixed[signal] = Baseline(
                signal, value, source, time, n, spread, span_h, restored=True
            )
            self._learning.pop(signal, None)
        for signal, (start, last, n, values) in learning.items():
            lr = self._learning.get(signal)
            if lr is not None and n > 0 and values:
                lr.start, lr.last, lr.n, lr.values = start, last, n, values[:_MAX_VALUES]
        self.closed_at = min(self.closed_at, closed_at)


def _learner(f: Any) -> tuple[float, float, int, list[float]]:
    """A learn window from a snapshot: ``[start, last, n, values]``, or the layout before
    issue 12, ``[start, total, n]`` (its mean stands in for the values)."""
    if len(f) == 3:
        start, total, n = float(f[0]), float(f[1]), int(f[2])
        return start, start, n, [total / n] if n > 0 else []
    start, last, n, values = f
    return float(start), float(last), int(n), [float(v) for v in values]


def _fixed(f: Any) -> tuple[float, str, float | None, int, float | None, float | None]:
    """A baseline from a snapshot: ``[value, source, time, n, spread, span_h]`` (the last
    two since issue 12; absent in older snapshots)."""
    extra = [None if x is None else float(x) for x in [*f[4:6], None, None][:2]]
    return (
        float(f[0]),
        str(f[1]),
        None if f[2] is None else float(f[2]),
        int(f[3]),
        extra[0],
        extra[1],
    )
