"""The demo's hold criteria: every one the pre-dose check uses, when each was truly met and
when the devices first showed it.

The pre-dose check (``edge/core/rules/dose_hold.py``; ``shared/docs/clinical.md``, "Hold /
stop criteria") holds a dose for SBP < 90, SpO2 < 90, weight gain > 15 %, HR > 130
(absolute) and HR 100-130 (relative, Dutcher 2014 Table 3). The demo's summary lists all
five, so a hold advised for a heart rate of 112 does not look hours early against a
table that only knows HR > 130.

Two times per criterion:

- **truly met**: from the virtual patient's true physiology (``edge/lab/patient/truth.py``:
  past the limit for 10 min, weight at once). The truth has no HR 100-130 criterion (the
  evaluation scores the others), so :func:`true_hr_relative_s` computes it here with the
  same 10-minute rule.
- **first measured**: the first time the devices' readings, as the check reads them,
  were past the limit: a cuff SBP, the mean SpO2 of a minute, the weight gain against the
  entered (else the first) weight, the smoothed pulse (``pulse_average_half_life_s``).
  This is what a pre-dose check could first see; noise and artifacts can make it earlier
  than the truth, a sparse cuff later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from edge.core.trend import ExpAverage


@dataclass(frozen=True, slots=True)
class Criterion:
    """One hold criterion of the pre-dose check, as the demo's summary shows it."""

    key: str  # the dose check's criterion name (HoldCriterion.name)
    label: str
    truth_key: str | None  # key in the truth's hold_criteria_first_met_s, if it has one
    alerts: tuple[str, ...]  # alert codes that warn of it


def criteria(th: Any) -> tuple[Criterion, ...]:
    """Every hold criterion the pre-dose check uses, in its order, with the thresholds' limits.

    >>> from edge.config import Thresholds
    >>> [c.label for c in criteria(Thresholds())]  # doctest: +NORMALIZE_WHITESPACE
    ['SBP < 90 mmHg', 'SpO2 < 90 %', 'weight gain > 15 %', 'HR > 130 /min',
     'HR 100-130 /min (relative)']
    """
    rel, ab = th.hold_hr_relative_bpm, th.hold_hr_absolute_bpm
    return (
        Criterion("sbp", f"SBP < {th.hold_sbp_mmhg:g} mmHg", "sbp", ("hypotension", "bp_falling")),
        Criterion(
            "spo2", f"SpO2 < {th.hold_spo2_pct:g} %", "spo2", ("desaturation", "spo2_falling")
        ),
        Criterion(
            "weight_gain",
            f"weight gain > {th.hold_weight_gain_pct:g} %",
            "weight",
            ("weight_gain",),
        ),
        Criterion("hr_absolute", f"HR > {ab:g} /min", "hr", ("tachycardia",)),
        Criterion("hr_relative", f"HR {rel:g}-{ab:g} /min (relative)", None, ("tachycardia",)),
    )


def true_hr_relative_s(t: Any, hr: Any, th: Any) -> float | None:
    """Seconds from the start when the true heart rate first stayed within the relative
    band (``hold_hr_relative_bpm`` to ``hold_hr_absolute_bpm``) for 10 minutes, the
    truth's rule for HR > 130 (``edge/lab/patient/truth.py``).

    >>> import numpy as np
    >>> from edge.config import Thresholds
    >>> t = np.arange(0.0, 3600.0, 60.0)
    >>> hr = np.where(t >= 1200.0, 112.0, 90.0)
    >>> true_hr_relative_s(t, hr, Thresholds())
    1200.0
    """
    from edge.lab.patient.truth import SUSTAIN_MIN, first_sustained

    band = (hr >= th.hold_hr_relative_bpm) & (hr <= th.hold_hr_absolute_bpm)
    return first_sustained(t, band, SUSTAIN_MIN)


def _first(items: Iterable[tuple[float, float]], test: Callable[[float], bool]) -> float | None:
    return next((t for t, v in items if test(v)), None)


def _minute_means(readings: list[Any], signal: str) -> list[tuple[float, float]]:
    """``(end of minute, mean)`` of one signal's unflagged readings, minute by minute."""
    out: list[tuple[float, float]] = []
    minute, total, n, last = None, 0.0, 0, 0.0
    for r in readings:
        if r.signal != signal or r.flags:
            continue
        m = int(r.time // 60)
        if minute is not None and m != minute and n:
            out.append((last, total / n))
            total, n = 0.0, 0
        minute, last = m, r.time
        total += r.value
        n += 1
    if n:
        out.append((last, total / n))
    return out


def first_measured(
    per_device: dict[str, list[Any]], baseline_kg: float | None, th: Any
) -> dict[str, float | None]:
    """Epoch time each criterion was first past its limit in the devices' readings.

    >>> from edge.config import Thresholds
    >>> from edge.vocabulary import Reading
    >>> nibp = [Reading.of("sbp", v, time=t) for t, v in ((0.0, 101.0), (3600.0, 88.0))]
    >>> ox = [Reading.of("pulse", 120.0, time=60.0 * i) for i in range(30)]
    >>> got = first_measured({"nibp": nibp, "spo2": ox}, None, Thresholds())
    >>> got["sbp"], got["hr_relative"], got["hr_absolute"], got["spo2"]
    (3600.0, 0.0, None, None)
    """
    rel, ab = th.hold_hr_relative_bpm, th.hold_hr_absolute_bpm
    readings = sorted(
        (r for rs in per_device.values() for r in rs if not r.flags), key=lambda r: r.time
    )
    sbp = [(r.time, r.value) for r in readings if r.signal == "sbp"]
    weights = [(r.time, r.value) for r in readings if r.signal == "weight"]
    base = baseline_kg if baseline_kg else (weights[0][1] if weights else None)
    gain = [(t, 100.0 * (w / base - 1.0)) for t, w in weights] if base else []
    avg = ExpAverage(th.pulse_average_half_life_s)
    pulse = [
        (r.time, avg.update(r.time, r.value).value or 0.0) for r in readings if r.signal == "pulse"
    ]
    return {
        "sbp": _first(sbp, lambda v: v < th.hold_sbp_mmhg),
        "spo2": _first(_minute_means(readings, "spo2"), lambda v: v < th.hold_spo2_pct),
        "weight_gain": _first(gain, lambda v: v > th.hold_weight_gain_pct),
        "hr_absolute": _first(pulse, lambda v: v > ab),
        "hr_relative": _first(pulse, lambda v: rel <= v <= ab),
    }
