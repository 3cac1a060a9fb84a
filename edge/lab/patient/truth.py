"""Ground truth from the TRUE physiology: when each hold criterion is first met, and the class.

Reference events follow ``shared/docs/signal-processing.md`` ("Evaluating a detector
on streams"): the first time a hold criterion is met (clinical.md "Hold / stop
criteria"). How long a true value must stay past a limit is a GUESS:

- ``sbp``: true SBP < 90 mmHg for 10 min;
- ``spo2``: true SpO2 < 90 % for 10 min;
- ``weight``: true weight > 115 % of the dry weight;
- ``hr``: true heart rate > 130 /min for 10 min ("persisting").

Severity is the *outcome* class (the drawn class is kept alongside), GUESSED:

- ``severe``: a hold criterion met, and SBP < 80 for 10 min, SpO2 < 88 for 10 min,
  a vasopressor, or two or more different criteria met;
- ``moderate``: a hold criterion met, none of the above;
- ``mild``: no hold criterion, but a leak sign (onset);
- ``none``: neither.

**Onset** is the first leak sign: weight gain >= 3 %, SBP <= 85 % of baseline
for 30 min, or SpO2 three or more points below baseline for 30 min (GUESS), and
never later than the first hold criterion. Alerts before it count as false.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.lab.patient.model import STEP_S, Trajectory

SUSTAIN_MIN = 10.0
ONSET_SUSTAIN_MIN = 30.0


def first_sustained(t: np.ndarray, cond: np.ndarray, minutes: float) -> float | None:
    """Start time of the first run of ``cond`` lasting at least ``minutes``.

    >>> t = np.arange(0.0, 600.0, 60.0)
    >>> first_sustained(t, np.array([0, 1, 0, 1, 1, 1, 0, 0, 0, 0], bool), 3)
    180.0
    """
    need = max(round(minutes * 60.0 / STEP_S), 1)
    run = 0
    for i, c in enumerate(cond.tolist()):
        run = run + 1 if c else 0
        if run >= need:
            return float(t[i - need + 1])
    return None


def ground_truth(traj: Trajectory) -> dict[str, Any]:
    """The ground-truth record (times in seconds from the scenario start)."""
    p = traj.params
    t = traj.t
    w0 = p.dry_weight_kg
    crit = {
        "sbp": first_sustained(t, traj.sbp < 90.0, SUSTAIN_MIN),
        "spo2": first_sustained(t, traj.spo2 < 90.0, SUSTAIN_MIN),
        "weight": first_sustained(t, traj.weight > 1.15 * w0, 0.0),
        "hr": first_sustained(t, traj.hr > 130.0, SUSTAIN_MIN),
    }
    met = {k: v for k, v in crit.items() if v is not None}
    first = min(met.values()) if met else None
    first_name = min(met, key=lambda k: met[k]) if met else None
    signs = [
        first_sustained(t, traj.weight >= 1.03 * w0, 0.0),
        first_sustained(t, traj.sbp <= 0.85 * p.sbp0, ONSET_SUSTAIN_MIN),
        first_sustained(t, traj.spo2 <= p.spo2_0 - 3.0, ONSET_SUSTAIN_MIN),
    ]
    onset_candidates = [s for s in signs if s is not None]
    if first is not None:
        onset_candidates.append(first)
    onset = min(onset_candidates) if onset_candidates else None
    if first is not None:
        severe = (
            first_sustained(t, traj.sbp < 80.0, SUSTAIN_MIN) is not None
            or first_sustained(t, traj.spo2 < 88.0, SUSTAIN_MIN) is not None
            or bool(traj.pressor.any())
            or len(met) >= 2
        )
        severity = "severe" if severe else "moderate"
    else:
        severity = "mild" if onset is not None else "none"
    return {
        "severity": severity,
        "drawn_severity": p.drawn_severity,
        "subtype": p.subtype,
        "hold_criteria_first_met_s": crit,
        "first_hold_s": first,
        "first_hold_criterion": first_name,
        "onset_s": onset,
        "duration_s": float(t[-1]),
        "dry_weight_kg": round(w0, 2),
        "baseline": {"sbp": round(p.sbp0, 1), "hr": round(p.hr0, 1), "spo2": round(p.spo2_0, 2)},
        "doses_given_s": list(traj.doses_given),
        "doses_held_s": list(traj.doses_held),
        "boluses_s": list(traj.boluses),
        "pressor_used": bool(traj.pressor.any()),
        "oxygen_used": bool(traj.oxygen.any()),
        "fluid_given_l": round(float(traj.fluid_in[-1]), 2),
        "max_weight_gain_pct": round(100.0 * (float(traj.weight.max()) / w0 - 1.0), 2),
        "min_sbp": round(float(traj.sbp.min()), 1),
        "min_spo2": round(float(traj.spo2.min()), 1),
        "max_hr": round(float(traj.hr.max()), 1),
        "min_albumin_g_dl": round(float(traj.albumin.min()), 2),
        "max_evlwi_ml_kg": round(float(traj.evlwi.max()), 1),
    }
