"""Model C's nurse-charted and scale feeds: weight and IL-2 doses.

Weight (CL "Dutcher 2014": weight daily): a standing scale read by the nurse and charted
(minute-resolution or quarter-hour stamps, entered late), or a bed scale logging on its
own clock. The admission (baseline) weight is entered by the nurse: weighed in clothes,
or the weight the patient states. Standing weighings vary with clothes; a few are
transcribed wrongly (10 kg off, digits swapped) and an implausible change is re-weighed.
A bed scale carries things put on the bed (SP "The data"; protocols.md "Bed scales also
jump when things are put on the bed or someone leans on it"), its own zero, and skips
readings while the patient is out of bed.

Doses are charted when the nurse gets to it: the charted time is the actual time to the
minute or the scheduled (on-the-hour) time, and the row arrives minutes to hours later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge.lab.patient.artifacts_b.streams import DOSE, F_NONE, SIG, _Rows
from edge.lab.patient.artifacts_c.oximeter import asleep
from edge.lab.patient.artifacts_c.transport import (
    SCALE_CLOCK_OFFSET_SD_S,
    DeviceClock,
    lognormal,
)
from edge.lab.patient.model import Trajectory

# --- admission weight --------------------------------------------------------------------------
#: Clothes and shoes on a standing weighing, kg (uniform). JUDGEMENT.
CLOTHES_KG = (0.2, 1.5)
#: Scale error SD, kg (ward scales read to 0.1 kg). JUDGEMENT.
SCALE_SD_KG = 0.2
#: Share of admissions charted with the weight the patient states, its error (mean, SD,
#: kg; self-report under-states weight, Connor Gorber 2007 review), rounded to 1 kg.
STATED_WEIGHT_SHARE = 0.2
STATED_WEIGHT_ERR = (-1.0, 2.0)

# --- standing scale --------------------------------------------------------------------------
#: Daily weighing hour and its spread (h); share of patients weighed twice a day (and
#: the second hour); share of weighings skipped. JUDGEMENT.
DAILY_WEIGH_HOUR = 6.0
WEIGH_SPREAD_H = 0.33
TWICE_DAILY_SHARE = 0.25
SECOND_WEIGH_HOUR = 18.0
WEIGH_SKIP_SHARE = 0.05
#: Transcription errors: share, and of those the share that are 10 kg off (the rest swap
#: the two leading digits). JUDGEMENT.
TRANSCRIBE_ERROR_SHARE = 0.02
TRANSCRIBE_TEN_SHARE = 0.5
#: A change above this (kg) from the last charted weight is re-weighed with this share,
#: after this delay (min). JUDGEMENT.
REWEIGH_KG = 2.5
REWEIGH_SHARE = 0.6
REWEIGH_MIN = (15.0, 90.0)
#: Share of charted weights stamped to the quarter hour (the rest to the minute), and the
#: charting delay (min): median, log-SD, clip. JUDGEMENT.
QUARTER_HOUR_SHARE = 0.3
WEIGHT_CHART_MIN = (30.0, 1.0, (1.0, 360.0))
#: Charted rows sent twice. JUDGEMENT.
WEIGHT_DUP_SHARE = 0.03

# --- bed scale -------------------------------------------------------------------------------
#: Bed scale log period (s), its zero error SD (kg), noise SD (kg). JUDGEMENT.
BED_PERIOD_S = 1800.0
BED_ZERO_SD_KG = 1.0
BED_NOISE_KG = 0.3
#: Things put on the bed: per hour, mass (kg), how long they stay (h: median, log-SD,
#: clip). JUDGEMENT.
BED_ITEM_PER_H = 1.0 / 12.0
BED_ITEM_KG = (0.5, 4.0)
BED_ITEM_STAY_H = (3.0, 0.8, (0.2, 24.0))
#: Share of readings with someone leaning on the bed, and the extra mass (kg). JUDGEMENT.
BED_LEAN_SHARE = 0.01
BED_LEAN_KG = (5.0, 25.0)
#: Share of awake readings skipped (patient out of bed). JUDGEMENT.
BED_OUT_SHARE = 0.05
#: Bed scale feed latency, s (uniform). JUDGEMENT.
BED_LATENCY_S = (1.0, 30.0)

# --- doses -----------------------------------------------------------------------------------
#: Share of doses charted at the scheduled (on-the-hour) time, not the actual one.
DOSE_SCHEDULED_SHARE = 0.4
#: Charting delay (min): median, log-SD, clip. JUDGEMENT (retrospective charting is
#: common on busy wards).
DOSE_CHART_MIN = (20.0, 1.0, (1.0, 480.0))
#: A dose row arriving later than this after the dose counts as late (s).
DOSE_LATE_S = 600.0


@dataclass(slots=True)
class WardViews:
    wt_t: list[float] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    doses: list[float] = field(default_factory=list)
    scale: str = "standing"
    baseline_weight: float = 0.0
    events: dict[str, int] = field(default_factory=dict)


def _true_weight(traj: Trajectory, t: float) -> float:
    return float(np.interp(t, traj.t, traj.weight))


def _transcribe(rng: np.random.Generator, w: float) -> float:
    if rng.random() < TRANSCRIBE_TEN_SHARE:
        return w + (10.0 if rng.random() < 0.5 else -10.0)
    whole = int(w)
    if 10 <= whole <= 99 and whole // 10 != whole % 10:
        return (whole % 10) * 10 + whole // 10 + (w - whole)
    return w + 10.0


def _admission(traj: Trajectory, rng: np.random.Generator, ev: dict[str, int]) -> float:
    w0 = _true_weight(traj, 0.0)
    if rng.random() < STATED_WEIGHT_SHARE:
        ev["stated_admission_weight"] = 1
        return float(round(w0 + rng.normal(*STATED_WEIGHT_ERR)))
    ev["stated_admission_weight"] = 0
    return round(w0 + rng.uniform(*CLOTHES_KG) + rng.normal(0.0, SCALE_SD_KG), 1)


def _standing(
    traj: Trajectory, rng: np.random.Generator, start: float, rows: _Rows, out: WardViews
) -> None:
    ev = out.events
    dur = float(traj.t[-1])
    hours = [DAILY_WEIGH_HOUR]
    if rng.random() < TWICE_DAILY_SHARE:
        hours.append(SECOND_WEIGH_HOUR)
    planned: list[tuple[float, bool]] = []
    day0 = math.floor(start / 86400.0) * 86400.0
    for day in range(int(dur // 86400.0) + 2):
        for h in hours:
            tw = day0 + 86400.0 * day + 3600.0 * (h + rng.normal(0.0, WEIGH_SPREAD_H)) - start
            if 0.0 < tw <= dur and rng.random() >= WEIGH_SKIP_SHARE:
                planned.append((tw, False))
    planned.sort()
    last = out.baseline_weight
    i = 0
    while i < len(planned):
        tw, is_reweigh = planned[i]
        i += 1
        w = _true_weight(traj, tw) + rng.uniform(*CLOTHES_KG) + rng.normal(0.0, SCALE_SD_KG)
        if rng.random() < TRANSCRIBE_ERROR_SHARE:
            w = _transcribe(rng, w)
            ev["weigh_outlier"] += 1
        w = round(w, 1)
        if (
            not is_reweigh
            and abs(w - last) > REWEIGH_KG
            and rng.random() < REWEIGH_SHARE
            and tw + 60.0 * REWEIGH_MIN[1] < dur
        ):
            planned.insert(i, (tw + 60.0 * rng.uniform(*REWEIGH_MIN), True))
            planned[i:] = sorted(planned[i:])
            ev["reweigh"] += 1
        last = w
        q = 900.0 if rng.random() < QUARTER_HOUR_SHARE else 60.0
        stamp = round((start + tw) / q) * q
        med, lsd, clip = WEIGHT_CHART_MIN
        arr = tw + 60.0 * float(lognormal(rng, med, lsd, clip, 1)[0])
        copies = [arr]
        if rng.random() < WEIGHT_DUP_SHARE:
            copies.append(arr + 60.0 * rng.uniform(1.0, 30.0))
            ev["weight_duplicated"] += 1
        for a in copies:
            rows.add(np.array([a]), np.array([stamp]), SIG["weight"], np.array([w]), F_NONE)
        out.wt_t.append(stamp)
        out.weight.append(w)


def _bed(
    traj: Trajectory, rng: np.random.Generator, start: float, rows: _Rows, out: WardViews
) -> None:
    ev = out.events
    dur = float(traj.t[-1])
    clock = DeviceClock.draw(rng, start, SCALE_CLOCK_OFFSET_SD_S)
    zero = float(rng.normal(0.0, BED_ZERO_SD_KG))
    t = np.arange(float(rng.uniform(0.0, BED_PERIOD_S)), dur, BED_PERIOD_S)
    extra = np.zeros(len(t))
    n_items = int(rng.poisson(BED_ITEM_PER_H * dur / 3600.0))
    for _ in range(n_items):
        a = rng.uniform(0.0, dur)
        med, lsd, clip = BED_ITEM_STAY_H
        b = a + 3600.0 * float(lognormal(rng, med, lsd, clip, 1)[0])
        extra[(t >= a) & (t < b)] += rng.uniform(*BED_ITEM_KG)
    ev["bed_item"] = n_items
    lean = rng.random(len(t)) < BED_LEAN_SHARE
    extra[lean] += rng.uniform(*BED_LEAN_KG, int(lean.sum()))
    ev["bed_lean"] = int(lean.sum())
    out_of_bed = ~asleep(start + t) & (rng.random(len(t)) < BED_OUT_SHARE)
    ev["bed_out"] = int(out_of_bed.sum())
    t = t[~out_of_bed]
    w = np.interp(t, traj.t, traj.weight) + zero + extra[~out_of_bed]
    w = np.round(w + rng.normal(0.0, BED_NOISE_KG, len(t)), 1)
    stamp = np.round(clock.stamp(t))
    arrival = t + rng.uniform(*BED_LATENCY_S, len(t))
    rows.add(arrival, stamp, SIG["weight"], w, F_NONE)
    out.wt_t.extend(stamp.tolist())
    out.weight.extend(w.tolist())


def _doses(
    traj: Trajectory, rng: np.random.Generator, start: float, rows: _Rows, out: WardViews
) -> None:
    ev = out.events
    for td in traj.doses_given:
        if rng.random() < DOSE_SCHEDULED_SHARE:
            stamp = round((start + td) / 3600.0) * 3600.0
            ev["dose_scheduled_time"] += 1
        else:
            stamp = math.floor((start + td) / 60.0) * 60.0
        med, lsd, clip = DOSE_CHART_MIN
        arr = td + 60.0 * float(lognormal(rng, med, lsd, clip, 1)[0])
        ev["dose_late"] += int(arr - td > DOSE_LATE_S)
        rows.add(np.array([arr]), np.array([stamp]), DOSE, np.zeros(1), F_NONE)
        out.doses.append(stamp)


def ward(traj: Trajectory, rng: np.random.Generator, start: float, rows: _Rows) -> WardViews:
    """Add the weight and dose rows to ``rows``; return the views and counts."""
    out = WardViews()
    for key in ("weigh_outlier", "reweigh", "weight_duplicated", "dose_late"):
        out.events[key] = 0
    out.events["dose_scheduled_time"] = 0
    out.baseline_weight = _admission(traj, rng, out.events)
    if traj.params.bed_scale:
        out.scale = "bed"
        _bed(traj, rng, start, rows, out)
    else:
        _standing(traj, rng, start, rows, out)
    _doses(traj, rng, start, rows, out)
    return out
