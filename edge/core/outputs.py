"""What the core says, besides alerts: trend summaries, and the JSON form of every output.

``Output`` is one of :class:`~edge.vocabulary.Alert`,
:class:`~edge.core.dose.DoseCheck` or :class:`TrendSummary`. Each one's JSON
form (:func:`output_dict`) carries a ``type`` key: ``alert``, ``dose_check``
or ``trend`` (the ``capleak replay`` contract, issue #4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.core.dose import DoseCheck
from edge.core.trend import TrendEstimate
from edge.vocabulary import Alert, iso_time


def _num(x: float | None, nd: int = 3) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(x, nd)


@dataclass(frozen=True, slots=True)
class SignalTrend:
    """One signal's trend with its projection towards a limit.

    ``hours_to_limit`` is the point estimate (``None``: not heading there);
    ``probability`` is the chance the level is past the limit ``horizon_h``
    from now, given the filter's uncertainty about level and slope.
    """

    signal: str
    estimate: TrendEstimate
    limit: float | None
    hours_to_limit: float | None
    probability: float | None
    horizon_h: float

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = self.estimate.to_dict()
        d["last_update"] = iso_time(self.estimate.time) if self.estimate.time > 0 else None
        d["limit"] = self.limit
        d["hours_to_limit"] = _num(self.hours_to_limit, 2)
        d["probability_within_horizon"] = _num(self.probability, 3)
        d["horizon_h"] = self.horizon_h
        return d


@dataclass(frozen=True, slots=True)
class TrendSummary:
    """Trends, baselines, weight gain, active conditions and rejection counts at ``time``."""

    time: float
    signals: Mapping[str, SignalTrend]
    baselines: Mapping[str, Mapping[str, Any]]
    weight_gain_pct: float | None
    weight_kg_per_24h: float | None
    active: Mapping[str, str] = field(default_factory=dict)
    rejected: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "trend",
            "time": iso_time(self.time),
            "signals": {s: t.to_dict() for s, t in self.signals.items()},
            "baselines": {k: dict(v) for k, v in self.baselines.items()},
            "weight_gain_pct": _num(self.weight_gain_pct, 2),
            "weight_kg_per_24h": _num(self.weight_kg_per_24h, 3),
            "active": dict(self.active),
            "rejected": dict(self.rejected),
        }


Output = Alert | DoseCheck | TrendSummary


def output_dict(output: Output) -> dict[str, Any]:
    """JSON-ready form of any core output, with its ``type`` first."""
    if isinstance(output, Alert):
        return {"type": "alert", **output.to_dict()}
    return output.to_dict()
