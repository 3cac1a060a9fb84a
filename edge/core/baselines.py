"""Baselines: the patient's pre-treatment weight, BP and SpO2, explicit and inspectable.

The fourth stage of the core (issue #4, "Pipeline" 4). A baseline comes from
(in order of precedence) a command (``set``), the configuration
(``[patient] baseline_*``), or is learned as the mean of accepted values over
the first ``learn_h`` hours of that signal (``thresholds.baseline_learn_h``),
closed early by the first IL-2 dose: after a dose the values are no longer
pre-treatment. Weight gain, "% below baseline" and "points below baseline"
are all measured against these values (``shared/docs/clinical.md``: weight
gain > 15 % over baseline; Betof Warner 2024 sets a BP target on admission).

>>> b = Baselines(learn_h=2.0)
>>> for t, w in ((0.0, 70.0), (1800.0, 70.4), (7300.0, 71.0)):
...     _ = b.observe("weight", t, w)
>>> b.get("weight")
Baseline(signal='weight', value=70.2, source='learned', time=7300.0, n=2)
>>> b.set("weight", 68.0, 8000.0).source
'command'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Signals with a baseline.
BASELINE_SIGNALS = ("weight", "sbp", "map", "spo2", "pulse")


@dataclass(frozen=True, slots=True)
class Baseline:
    """One baseline: its value, where it came from (config/command/learned), when, from how many."""

    signal: str
    value: float
    source: str
    time: float | None
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"value": round(self.value, 3), "source": self.source, "n": self.n}


class _Learner:
    __slots__ = ("n", "start", "total")

    def __init__(self) -> None:
        self.start = math.inf
        self.total = 0.0
        self.n = 0


class Baselines:
    """Holds the baselines and learns the missing ones from the first hours."""

    __slots__ = ("_fixed", "_learning", "closed_at", "learn_s")

    def __init__(
        self, learn_h: float = 2.0, configured: Mapping[str, float | None] | None = None
    ) -> None:
        self.learn_s = learn_h * 3600.0
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
        return b

    def dose_given(self, time: float) -> None:
        """The first dose closes every learning window (what came before is pre-treatment)."""
        self.closed_at = min(self.closed_at, time)
        self.close_due(time)

    @property
    def next_close(self) -> float:
        """The earliest time a learning window with data in it closes (``inf``: none)."""
        return min(
            (
                min(lr.start + self.learn_s, self.closed_at)
                for lr in self._learning.values()
                if lr.n
            ),
            default=math.inf,
        )

    def close_due(self, now: float) -> list[Baseline]:
        """Turn every learning window that has ended by ``now`` into a baseline."""
        return [
            self._finish(signal, lr, now)
            for signal, lr in list(self._learning.items())
            if lr.n and now >= min(lr.start + self.learn_s, self.closed_at)
        ]

    def _finish(self, signal: str, lr: _Learner, time: float) -> Baseline:
        b = Baseline(signal, round(lr.total / lr.n, 6), "learned", time, lr.n)
        self._fixed[signal] = b
        del self._learning[signal]
        return b

    def observe(self, signal: str, time: float, value: float) -> Baseline | None:
        """Feed an accepted value; returns the baseline when it has just been learned."""
        lr = self._learning.get(signal)
        if lr is None:
            return None
        if lr.n == 0:
            lr.start = time
        end = min(lr.start + self.learn_s, self.closed_at)
        if time < end or lr.n == 0:
            lr.total += value
            lr.n += 1
            if time < end:
                return None
        return self._finish(signal, lr, time)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {s: b.to_dict() for s, b in sorted(self._fixed.items())}
