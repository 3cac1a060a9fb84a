"""A tiny stand-in for the core, used ONLY by these tests (never by the product).

It has the core's shape (``Core(config)``, ``update``, ``dose``, ``tick``) and
emits start/end :class:`Alert` events for three simple conditions, so the
evaluation plumbing can be tested before and independently of the real core.
"""

from __future__ import annotations

from edge.config import Config
from edge.vocabulary import Alert, Reading


class StandInCore:
    def __init__(self, config: Config) -> None:
        self.baseline_weight = config.patient.baseline_weight_kg
        self.sbp_baseline: float | None = None
        self.active: dict[str, bool] = {}
        self.doses: list[float] = []
        self.ticks = 0

    def _set(self, code: str, on: bool, priority: str, t: float) -> list[Alert]:
        if on == self.active.get(code, False):
            return []
        self.active[code] = on
        return [Alert(code, priority, "physiological", "start" if on else "end", t, code)]

    def update(self, r: Reading) -> list[Alert]:
        if r.flags:
            return []
        if r.signal == "sbp":
            if self.sbp_baseline is None:
                self.sbp_baseline = r.value
            return self._set("hypotension", r.value < 90, "high", r.time) + self._set(
                "bp_falling", r.value < 0.8 * self.sbp_baseline, "medium", r.time
            )
        if r.signal == "weight" and self.baseline_weight:
            return self._set("weight_gain", r.value > 1.1 * self.baseline_weight, "medium", r.time)
        return []

    def dose(self, time: float) -> None:
        self.doses.append(time)

    def tick(self, now: float) -> list[Alert]:
        self.ticks += 1
        return []
