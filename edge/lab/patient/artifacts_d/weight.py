"""Model D's weights: the admission weight, a standing scale charted by hand or a bed scale.

- **Admission weight** (``StreamsB.baseline_weight``): most patients are weighed on
  arrival, dressed, on the ward's standing scale (true weight at the start plus clothes
  and shoes); the rest have the weight they state, or the clinic's from weeks before,
  typed in (the dry weight give or take a couple of kg, whole kg). JUDGEMENT throughout.
- **Standing scale**: a morning weight (daily weights, clinical.md "Monitoring"), and in
  some wards an evening one too; in a gown (a little clothing), charted by hand to the
  minute and late. A weighing is now and then off by about 3 kg (shoes, a hand on the
  rail, a drip bag on the scale); a nurse who notices weighs again.
- **Bed scale** (signal-processing.md, protocols.md: "a step change that reverses is an
  artifact"): a reading every few minutes, with items put on the bed and taken off
  later, and single readings off by about 3 kg (someone leaning on the bed), after which
  the nurse may re-weigh.
"""

from __future__ import annotations

import math

import numpy as np

from edge.lab.patient.model import Trajectory

#: Share of patients whose admission weight is weighed (else stated). JUDGEMENT.
ADMISSION_WEIGHED_SHARE = 0.75
#: Clothes and shoes on the admission weighing, kg. JUDGEMENT.
ADMISSION_CLOTHES_KG = (0.5, 2.0)
#: A stated weight: sd about the dry weight, kg. JUDGEMENT.
STATED_SD_KG = 2.5
#: Morning weighing hour and jitter sd, h; share of wards that also weigh in the evening.
MORNING_H = 6.0
EVENING_H = 18.0
WEIGH_JITTER_H = 0.5
TWICE_DAILY_SHARE = 0.4
#: A gown and the like, kg; scale noise sd, kg (0.1 kg resolution). JUDGEMENT.
GOWN_KG = (0.2, 0.8)
SCALE_SD_KG = 0.2
#: Off weighings: share, size kg (the brief's +-3 kg), share re-weighed and after how long.
OUTLIER_SHARE = 0.07
OUTLIER_KG = (2.5, 3.5)
REWEIGH_SHARE = 0.7
REWEIGH_AFTER_S = (300.0, 1800.0)
#: Charting delay of a standing weight, s (lognormal median, log sd, clip). JUDGEMENT.
CHART_DELAY_S = (1200.0, 0.8, (60.0, 10800.0))
#: Bed scale: reading interval s, noise sd kg, items per hour, item kg and how long it stays
#: (lognormal median s, log sd, clip); single-reading outliers. JUDGEMENT.
BED_EVERY_S = 600.0
BED_SD_KG = 0.15
BED_ITEM_PER_H = 0.1
BED_ITEM_KG = (0.5, 4.0)
BED_ITEM_S = (5400.0, 0.9, (600.0, 43200.0))
BED_OUTLIER_SHARE = 0.02
BED_REWEIGH_SHARE = 0.5
BED_ARRIVAL_S = (1.0, 6.0)


def _lognormal(rng: np.random.Generator, spec: tuple[float, float, tuple[float, float]]) -> float:
    median, logsd, (lo, hi) = spec
    return float(np.clip(median * math.exp(rng.normal(0.0, logsd)), lo, hi))


def admission_weight(traj: Trajectory, rng: np.random.Generator, events: dict[str, int]) -> float:
    """The baseline weight a nurse types in on admission."""
    if rng.random() < ADMISSION_WEIGHED_SHARE:
        events["baseline_stated"] = 0
        w = float(traj.weight[0]) + float(rng.uniform(*ADMISSION_CLOTHES_KG))
        return round(w + float(rng.normal(0.0, SCALE_SD_KG)), 1)
    events["baseline_stated"] = 1
    return float(round(traj.params.dry_weight_kg + float(rng.normal(0.0, STATED_SD_KG))))


def measure_weights(
    traj: Trajectory, rng: np.random.Generator, start: float, events: dict[str, int]
) -> list[tuple[float, float, float]]:
    """Weighings as (stamp epoch, value kg, arrival true s)."""
    events["weigh_outlier"] = events["reweigh"] = events["bed_item"] = 0
    end = float(traj.t[-1])
    out: list[tuple[float, float, float]] = []

    def true_w(t: float) -> float:
        return float(np.interp(t, traj.t, traj.weight))

    if traj.params.bed_scale:
        items = np.zeros(int(end // BED_EVERY_S) + 1)
        times = np.arange(len(items)) * BED_EVERY_S + float(rng.uniform(0.0, BED_EVERY_S))
        for a in rng.uniform(0.0, end, int(rng.poisson(BED_ITEM_PER_H * end / 3600.0))):
            b = a + _lognormal(rng, BED_ITEM_S)
            items[(times >= a) & (times < b)] += float(rng.uniform(*BED_ITEM_KG))
            events["bed_item"] += 1
        for t, extra in zip(times.tolist(), items.tolist(), strict=True):
            if t > end:
                break
            w = true_w(t) + extra + float(rng.normal(0.0, BED_SD_KG))
            arrival = t + float(rng.uniform(*BED_ARRIVAL_S))
            if rng.random() < BED_OUTLIER_SHARE:
                events["weigh_outlier"] += 1
                w += float(rng.choice([-1.0, 1.0]) * rng.uniform(*OUTLIER_KG))
                if rng.random() < BED_REWEIGH_SHARE:
                    t2 = t + float(rng.uniform(*REWEIGH_AFTER_S))
                    if t2 < end:
                        events["reweigh"] += 1
                        w2 = true_w(t2) + extra + float(rng.normal(0.0, BED_SD_KG))
                        out.append((start + t2, round(w2, 1), t2 + 2.0))
            out.append((start + t, round(w, 1), arrival))
        return out

    hours = (MORNING_H, EVENING_H) if rng.random() < TWICE_DAILY_SHARE else (MORNING_H,)
    day0 = math.floor(start / 86400.0) * 86400.0 - start
    for day in range(int(end // 86400.0) + 2):
        for h in hours:
            t = day0 + day * 86400.0 + (h + float(rng.normal(0.0, WEIGH_JITTER_H))) * 3600.0
            if not 0.0 <= t < end:
                continue
            gown = float(rng.uniform(*GOWN_KG))
            w = true_w(t) + gown + float(rng.normal(0.0, SCALE_SD_KG))
            if rng.random() < OUTLIER_SHARE:
                events["weigh_outlier"] += 1
                w += float(rng.choice([-1.0, 1.0]) * rng.uniform(*OUTLIER_KG))
                if rng.random() < REWEIGH_SHARE:
                    t2 = t + float(rng.uniform(*REWEIGH_AFTER_S))
                    if t2 < end:
                        events["reweigh"] += 1
                        w2 = true_w(t2) + gown + float(rng.normal(0.0, SCALE_SD_KG))
                        s2 = start + 60.0 * math.floor(t2 / 60.0)
                        out.append((s2, round(w2, 1), t2 + _lognormal(rng, CHART_DELAY_S)))
            stamp = start + 60.0 * math.floor(t / 60.0)
            out.append((stamp, round(w, 1), t + _lognormal(rng, CHART_DELAY_S)))
    return out
