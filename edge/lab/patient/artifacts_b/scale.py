"""Artifact model B, weight: a standing or a bed scale, outliers and re-weighings, as a
charted feed (see the package docstring)."""

from __future__ import annotations

import numpy as np

from edge.lab.patient.artifacts_b.charting import _charted, _minute_stamp
from edge.lab.patient.artifacts_b.streams import SIG, _Rows
from edge.lab.patient.model import Trajectory

# --- weight --------------------------------------------------------------------------------
#: Standing scale: a daily weight at this hour (CL: "weight daily") and extra weighings at
#: these hours with EXTRA_WEIGH_SHARE. JUDGEMENT.
DAILY_WEIGH_HOUR = 6.0
EXTRA_WEIGH_HOURS = (14.0, 22.0)
EXTRA_WEIGH_SHARE = 0.5
#: Bed scale period (s) (SP: "continuous (bed scale, with steps ...)"); JUDGEMENT period.
BED_SCALE_PERIOD_S = 900.0
#: Bed scale: things put on the bed, per hour, their mass (kg) and how long (s). JUDGEMENT.
BED_ITEM_PER_H = 1.0 / 12.0
BED_ITEM_KG = (0.5, 4.0)
BED_ITEM_S = (1800.0, 6 * 3600.0)
#: Weighing error SD (kg; clothes, posture). JUDGEMENT.
WEIGH_SD_KG = 0.3
#: Outliers: share and size (issue #12: "scale outliers of +-3 kg"), and the re-weighing
#: share and delay (s) after one. JUDGEMENT shares.
WEIGH_OUTLIER_SHARE = 0.08
WEIGH_OUTLIER_KG = 3.0
REWEIGH_SHARE = 0.7
REWEIGH_S = (300.0, 1200.0)
#: The admission weight a nurse enters: error SD (kg). JUDGEMENT.
ADMISSION_WEIGHT_SD_KG = 0.4


def _weight(
    traj: Trajectory, rng: np.random.Generator, start: float, rows: _Rows, events: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, str]:
    p = traj.params
    dur = float(traj.t[-1])
    if p.bed_scale:
        scale = "bed"
        t = np.arange(rng.uniform(0.0, BED_SCALE_PERIOD_S), dur, BED_SCALE_PERIOD_S)
        w = np.interp(t, traj.t, traj.weight) + rng.normal(0.0, WEIGH_SD_KG / 2, len(t))
        n_items = rng.poisson(BED_ITEM_PER_H * dur / 3600.0)
        for _ in range(int(n_items)):
            a = rng.uniform(0.0, dur)
            b = a + rng.uniform(*BED_ITEM_S)
            w[(t >= a) & (t < b)] += rng.uniform(*BED_ITEM_KG)
        events["bed_items"] = int(n_items)
    else:
        scale = "standing"
        times = []
        for day in range(int(dur // 86400.0) + 1):
            for h in (DAILY_WEIGH_HOUR, *EXTRA_WEIGH_HOURS):
                if h != DAILY_WEIGH_HOUR and rng.random() >= EXTRA_WEIGH_SHARE:
                    continue
                tt = day * 86400.0 + h * 3600.0 - (start % 86400.0) + rng.uniform(-1800, 1800)
                if 0.0 <= tt <= dur:
                    times.append(tt)
        t = np.sort(np.asarray(times, float))
        w = np.interp(t, traj.t, traj.weight) + rng.normal(0.0, WEIGH_SD_KG, len(t))
    out = rng.random(len(t)) < WEIGH_OUTLIER_SHARE
    w[out] += WEIGH_OUTLIER_KG * np.where(rng.random(int(out.sum())) < 0.5, -1.0, 1.0)
    events["weigh_outlier"] = int(out.sum())
    re = out & (rng.random(len(t)) < REWEIGH_SHARE)
    rt = t[re] + rng.uniform(*REWEIGH_S, int(re.sum()))
    ok = rt <= dur
    rt = rt[ok]
    rw = np.interp(rt, traj.t, traj.weight) + rng.normal(0.0, WEIGH_SD_KG, len(rt))
    events["reweigh"] = len(rt)
    t = np.concatenate([t, rt])
    w = np.round(np.concatenate([w, rw]), 1)
    order = np.argsort(t, kind="stable")
    t, w = t[order], w[order]
    stamp = _minute_stamp(rng, start + t)
    _charted(rng, rows, t, stamp, SIG["weight"], w)
    return stamp, w, scale
