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

from edge.config import Thresholds
from edge.core.baselines import Baselines
from edge.core.dose import DoseCheck
from edge.core.trend import LocalLinearTrend, TrendEstimate
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


def summarise(
    now: float,
    trends: Mapping[str, LocalLinearTrend],
    baselines: Baselines,
    th: Thresholds,
    active: Mapping[str, str],
    rejected: Mapping[str, int],
) -> TrendSummary:
    """Every trend projected to ``now``, each towards its hold limit (``Core.trends``).

    Falling signals (BP, SpO2) are projected below their limit, rising ones (pulse,
    weight: baseline + ``hold_weight_gain_pct``) above it, over ``bp_projection_h``.
    """
    horizon = th.bp_projection_h
    base_w = baselines.value("weight")
    limits: dict[str, tuple[float | None, bool]] = {
        "sbp": (th.hold_sbp_mmhg, True),
        "map": (th.hold_map_mmhg, True),
        "dbp": (None, True),
        "spo2": (th.hold_spo2_pct, True),
        "pulse": (th.hold_hr_absolute_bpm, False),
        "weight": (
            None if base_w is None else base_w * (1 + th.hold_weight_gain_pct / 100),
            False,
        ),
    }
    signals = {}
    for signal, trend in trends.items():
        est = trend.estimate(now)
        if est is None:
            continue
        limit, falling = limits[signal]
        hours = prob = None
        if limit is not None:
            h = est.hours_to(limit)
            hours = h if math.isfinite(h) and h >= 0 else None
            below = est.probability_below(limit, horizon)
            prob = below if falling else 1.0 - below
        signals[signal] = SignalTrend(signal, est, limit, hours, prob, horizon)
    gain = rate = None
    w = trends["weight"].estimate(now)
    if w is not None:
        rate = w.slope_per_h * 24.0
        if base_w:
            gain = (w.level - base_w) / base_w * 100.0
    return TrendSummary(
        time=now,
        signals=signals,
        baselines=baselines.as_dict(),
        weight_gain_pct=gain,
        weight_kg_per_24h=rate,
        active=active,
        rejected=rejected,
    )


Output = Alert | DoseCheck | TrendSummary


def output_dict(output: Output) -> dict[str, Any]:
    """JSON-ready form of any core output, with its ``type`` first."""
    if isinstance(output, Alert):
        return {"type": "alert", **output.to_dict()}
    return output.to_dict()
