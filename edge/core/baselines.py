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
from dataclasses import dataclass, field
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
    #: True when it came from the state saved before a restart (``restored`` in ``trends``)
    restored: bool = field(default=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": round(self.value, 3), "source": self.source, "n": self.n}
        if self.restored:
            d["restored"] = True
        return d


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

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state for a restart (:meth:`restore`): baselines, learn windows, first dose.

        >>> b = Baselines(2.0, {"spo2": 97.0})
        >>> _ = b.observe("weight", 0.0, 70.0); _ = b.set("sbp", 125.0, 10.0)
        >>> c = Baselines(2.0, {"spo2": 97.0}); c.restore(b.snapshot())
        >>> c.get("sbp").source, c.get("sbp").restored, c.snapshot()["learning"]["weight"]
        ('command', True, [0.0, 70.0, 1])
        """
        return {
            "fixed": {
                s: [b.value, b.source, b.time, b.n]
                for s, b in self._fixed.items()
                if b.source != "config"  # the configuration of this start decides those
            },
            "learning": {s: [lr.start, lr.total, lr.n] for s, lr in self._learning.items() if lr.n},
            "closed_at": self.closed_at,
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take back a :meth:`snapshot` taken before a restart; raises ValueError on a bad one.

        Precedence holds across the restart: a commanded baseline comes back over the
        configuration, a learned one only where the configuration now has none; a
        window still learning goes on from its sums.
        """
        try:
            fixed = {
                str(s): (float(v), str(src), None if t is None else float(t), int(n))
                for s, (v, src, t, n) in dict(data.get("fixed", {})).items()
            }
            learning = {
                str(s): (float(a), float(b), int(n))
                for s, (a, b, n) in dict(data.get("learning", {})).items()
            }
            closed_at = float(data.get("closed_at", math.inf))
        except (TypeError, ValueError) as e:
            raise ValueError(f"bad baselines state: {e}") from None
        for signal, (value, source, time, n) in fixed.items():
            if signal not in BASELINE_SIGNALS or source not in ("command", "learned"):
                raise ValueError(f"bad baseline {signal!r} from {source!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"bad baseline {signal!r}: {value!r}")
            held = self._fixed.get(signal)
            if source == "learned" and held is not None:
                continue  # configured now: the configuration wins over a learned value
            self._fixed[signal] = Baseline(signal, value, source, time, n, restored=True)
            self._learning.pop(signal, None)
        for signal, (start, total, n) in learning.items():
            lr = self._learning.get(signal)
            if lr is not None and n > 0:
                lr.start, lr.total, lr.n = start, total, n
        self.closed_at = min(self.closed_at, closed_at)
