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
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

CLS_CLASSES = ("moderate", "severe")
#: Codes that are trend evidence of a leak from BP, weight or the SpO2 trend (issue #12:
#: "sensitivity and median lead counting BP/weight/SpO2-trend evidence only"): not the
#: instant ``desaturation``, not ``tachycardia`` nor the composite ``cls_suspected``.
EVIDENCE_CODES = ("hypotension", "bp_falling", "weight_gain", "spo2_falling")
#: Hold criteria that BP, weight or SpO2-trend evidence can announce: an event whose first
#: hold criterion is the heart rate (Dutcher 2014's 100-130 or > 130 /min) is often met at
#: the leak's onset, before any of them has moved (docs/evaluation.md).
EVIDENCE_CRITERIA = ("sbp", "spo2", "weight")
#: Drew et al. 2014 (clinical.md): 187 audible alarms per ICU bed-day.
DREW_ALARMS_PER_BED_DAY = 187.0
GRACE_S = 3600.0
#: An alert start this close to a real (physiological, non-CLS) SpO2 dip is "during" it.
DIP_MARGIN_S = 60.0
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
    #: real (physiological) SpO2 dips the artifact model adds that are not CLS, e.g. model
    #: B's sleep desaturations: (start_s, end_s); an alert during one is still counted as
    #: false (the patient has no CLS), and reported apart in :func:`false_by_code`
    real_dips: tuple[tuple[float, float], ...] = ()
    #: which hold criterion the true physiology met first ("sbp", "spo2", "hr", "weight")
    first_hold_criterion: str | None = None


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
    indicator: str | Collection[str] | None = None,
    grace_s: float = GRACE_S,
    lookback_s: float = LOOKBACK_S,
) -> dict[str, Any]:
    """Metrics for one detector, over all its indicators, only ``indicator``, or a set."""
    wanted: Collection[str] | None = (indicator,) if isinstance(indicator, str) else indicator
    events = 0
    detected = 0
    by_class = {c: [0, 0] for c in CLS_CLASSES}  # [events, detected]
    leads_h: list[float] = []
    total_alerts = 0
    none_alerts, none_days = 0, 0.0
    mild_alerts, mild_days = 0, 0.0
    pre_alerts, pre_days = 0, 0.0
    for p in patients:
        episodes = [
            (t, e) for t, e, ind in p.alerts.get(detector, []) if wanted is None or ind in wanted
        ]
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
        "indicator": (
            "all"
            if wanted is None
            else indicator
            if isinstance(indicator, str)
            else "+".join(wanted)
        ),
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


def false_by_code(patients: Iterable[PatientOutcome], detector: str) -> dict[str, Any]:
    """Medium/high alert starts per patient-day in no-CLS and mild patients, by code, and
    how many of them started during a real non-CLS SpO2 dip (``during_real_dip``)."""
    out: dict[str, Any] = {}
    pts = list(patients)
    for cls in ("none", "mild"):
        group = [p for p in pts if p.severity == cls]
        days = sum(p.duration_s for p in group) / 86400.0
        codes = Counter(ind for p in group for _, _, ind in p.alerts.get(detector, []))
        total = sum(codes.values())
        in_dip = sum(
            1
            for p in group
            for s, _, _ in p.alerts.get(detector, [])
            if any(a - DIP_MARGIN_S <= s <= b + DIP_MARGIN_S for a, b in p.real_dips)
        )
        out[cls] = {
            "patients": len(group),
            "patient_days": days,
            "starts": total,
            "per_patient_day": total / days if days else None,
            "by_code": dict(codes.most_common()),
            "during_real_dip": in_dip,
        }
    return out


def _active(episodes: list[tuple[float, float, str]], t: float) -> list[str]:
    return sorted(ind for s, e, ind in episodes if s <= t < e)


def active_at_hold(
    patients: Iterable[PatientOutcome], detector: str, settle_s: float = 60.0
) -> dict[str, Any]:
    """Alerts ACTIVE (not only started) when a hold criterion is first met or observed.

    For moderate/severe patients: the medium/high alerts active at the first hold
    criterion (true physiology), and ``settle_s`` after the first cuff reading below the
    SBP hold limit that was truly low (the first time the cuff shows it). Also the delay
    from that reading to a ``hypotension`` alert (active at it counts as 0).
    """
    at_hold: Counter[str] = Counter()
    at_cuff: Counter[str] = Counter()
    n_hold = any_hold = n_cuff = any_cuff = 0
    delays: list[float] = []
    never = 0
    for p in patients:
        if p.severity not in CLS_CLASSES or p.first_hold_s is None:
            continue
        eps = p.alerts.get(detector, [])
        n_hold += 1
        act = _active(eps, p.first_hold_s)
        any_hold += bool(act)
        at_hold.update(act)
        if p.first_low_cuff_s is not None:
            n_cuff += 1
            act = _active(eps, p.first_low_cuff_s + settle_s)
            any_cuff += bool(act)
            at_cuff.update(act)
            hyp = [
                max(0.0, s - p.first_low_cuff_s)
                for s, e, ind in eps
                if ind == "hypotension" and e > p.first_low_cuff_s
            ]
            if hyp:
                delays.append(min(hyp) / 60.0)
            else:
                never += 1
    return {
        "first_hold": {"patients": n_hold, "with_alert_active": any_hold, "by_code": dict(at_hold)},
        "first_low_cuff": {
            "patients": n_cuff,
            "with_alert_active": any_cuff,
            "by_code": dict(at_cuff),
            "hypotension_delay_min": {
                "median": statistics.median(delays) if delays else None,
                "n": len(delays),
                "never": never,
                "values": sorted(round(d, 1) for d in delays),
            },
        },
    }


def alarm_load(
    loads: Sequence[dict[str, int]], outcomes: Sequence[PatientOutcome]
) -> dict[str, Any]:
    """Alarm starts per bed-day, next to Drew 2014 (187 audible alarms per ICU bed-day)."""
    days = sum(o.duration_s for o in outcomes) / 86400.0
    keys = sorted({k for ld in loads for k in ld})
    per = {k: sum(ld.get(k, 0) for ld in loads) / days if days else None for k in keys}
    monitor = sum(len(o.alerts.get("monitor", [])) for o in outcomes)
    return {
        "bed_days": days,
        "capleak_per_bed_day": per,
        "monitor_per_bed_day": monitor / days if days else None,
        "drew_2014_per_bed_day": DREW_ALARMS_PER_BED_DAY,
    }
