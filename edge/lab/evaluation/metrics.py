"""Detection-quality metrics on a cohort (``shared/docs/signal-processing.md``,
"Evaluating a detector on streams").

Definitions (the windows are GUESSES, stated so results can be read):

- **Event**: a moderate or severe patient's first hold criterion (true physiology).
- **Detected**: a medium/high alert active at some time in the detection window
  ``[max(onset, first hold - 12 h), first hold + 1 h]``. The grace of 1 h allows
  for intermittent NIBP (a hold-level SBP may be seen late even by a perfect
  detector); the look-back of 12 h (1.5 dosing intervals) keeps an alert that
  happens to fall after an early, mild sign from counting as a 2-day "warning".
  Alerts after onset but before the window are neither true nor false.
  An alert that started earlier and is still active counts from the window's
  start. **Lead time** = first hold - the first time an alert is active in the
  window (negative = after). Alerts are counted when they start (or escalate
  to medium/high).
- **Chance hits**: a detector with many false alerts "detects" by chance; the
  expected share of windows hit by chance alone, ``1 - exp(-rate x window)`` with
  the no-CLS rate, is reported next to the sensitivity.
- **False alerts per patient-day**: medium/high alerts in patients with no CLS
  (class ``none``), and in moderate/severe patients before onset (per pre-onset
  day). Mild patients are reported on their own: they leak, below hold criteria.
- **Alerts per true event**: all medium/high alerts in the cohort divided by the
  number of detected events (the work-up-to-detection ratio).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

CLS_CLASSES = ("moderate", "severe")
GRACE_S = 3600.0
LOOKBACK_S = 12 * 3600.0


@dataclass(frozen=True, slots=True)
class PatientOutcome:
    """One patient's truth and each detector's alerts (times in s from the start)."""

    index: int
    severity: str
    duration_s: float
    onset_s: float | None
    first_hold_s: float | None
    #: detector -> list of (start_s, end_s, indicator) alert episodes
    alerts: dict[str, list[tuple[float, float, str]]] = field(default_factory=dict)
    #: the first cuff reading below the SBP hold limit that was truly low (s), if any
    first_low_cuff_s: float | None = None


def _quantiles(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    if len(values) == 1:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def score(
    patients: Iterable[PatientOutcome],
    detector: str,
    indicator: str | None = None,
    grace_s: float = GRACE_S,
    lookback_s: float = LOOKBACK_S,
) -> dict[str, Any]:
    """Metrics for one detector, over all its indicators or only ``indicator``."""
    events = 0
    detected = 0
    by_class = {c: [0, 0] for c in CLS_CLASSES}  # [events, detected]
    leads_h: list[float] = []
    total_alerts = 0
    none_alerts, none_days = 0, 0.0
    mild_alerts, mild_days = 0, 0.0
    pre_alerts, pre_days = 0, 0.0
    for p in patients:
        episodes = [(t, e) for t, e, ind in p.alerts.get(detector, []) if indicator in (None, ind)]
        times = [t for t, _ in episodes]
        total_alerts += len(times)
        days = p.duration_s / 86400.0
        if p.severity == "none":
            none_alerts += len(times)
            none_days += days
        elif p.severity == "mild":
            mild_alerts += len(times)
            mild_days += days
        elif p.severity in CLS_CLASSES and p.first_hold_s is not None:
            onset = p.onset_s if p.onset_s is not None else p.first_hold_s
            events += 1
            by_class[p.severity][0] += 1
            pre_alerts += sum(1 for t in times if t < onset)
            pre_days += onset / 86400.0
            lo = max(onset, p.first_hold_s - lookback_s)
            hi = p.first_hold_s + grace_s
            hits = [max(t, lo) for t, e in episodes if t <= hi and e >= lo]
            if hits:
                detected += 1
                by_class[p.severity][1] += 1
                leads_h.append((p.first_hold_s - min(hits)) / 3600.0)
    q1, med, q3 = _quantiles(sorted(leads_h))
    rate = none_alerts / none_days if none_days else None
    window_days = (lookback_s + grace_s) / 86400.0
    return {
        "detector": detector,
        "indicator": indicator or "all",
        "events": events,
        "detected": detected,
        "sensitivity": detected / events if events else None,
        "sensitivity_by_class": {c: (d / e if e else None) for c, (e, d) in by_class.items()},
        "chance_hit_rate": None if rate is None else 1.0 - math.exp(-rate * window_days),
        "lead_time_h": {"median": med, "q1": q1, "q3": q3, "n": len(leads_h)},
        "lead_times_h": [round(x, 3) for x in leads_h],
        "false_per_patient_day_no_cls": none_alerts / none_days if none_days else None,
        "false_per_patient_day_pre_onset": pre_alerts / pre_days if pre_days else None,
        "alerts_per_patient_day_mild": mild_alerts / mild_days if mild_days else None,
        "alerts_total": total_alerts,
        "alerts_per_true_event": total_alerts / detected if detected else None,
        "patient_days": {"none": none_days, "mild": mild_days, "cls_pre_onset": pre_days},
    }
