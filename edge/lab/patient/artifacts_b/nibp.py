"""Artifact model B, NIBP: cuff bias and error, outliers, failed cycles and retries,
re-measures, and the cycle's parts as a charted feed (see the package docstring)."""

from __future__ import annotations

import numpy as np

from edge.lab.patient.artifacts_b.charting import _charted, _minute_stamp
from edge.lab.patient.artifacts_b.streams import SIG, _Rows
from edge.lab.patient.model import Trajectory

# --- NIBP ----------------------------------------------------------------------------------
#: Per-patient cuff bias SD and per-reading error SD, mmHg (SP: "+-5 mmHg measurement
#: error"; the split into bias and error is a JUDGEMENT).
CUFF_BIAS_SD = 4.0
CUFF_ERROR_SD = 5.0
#: Unflagged outliers: share of cycles (issue #12: "4 % unflagged outliers") and size of
#: the SBP error (mmHg, uniform, either sign); MAP/DBP move by CUFF_OUTLIER_DIA_FRAC of it.
CUFF_OUTLIER_SHARE = 0.04
CUFF_OUTLIER_MMHG = (20.0, 45.0)
CUFF_OUTLIER_DIA_FRAC = 0.6
#: Failed cycles (no values; SP: "a cycle can fail"), share JUDGEMENT; automatic retry
#: share and delay (s). JUDGEMENT.
CUFF_FAIL_SHARE = 0.05
CUFF_RETRY_SHARE = 0.8
CUFF_RETRY_S = (90.0, 180.0)
#: Re-measure after a low reading: SBP below the hold limit (CL: SBP < 90), share and
#: delay (s). JUDGEMENT.
CUFF_LOW_SBP = 90.0
CUFF_REMEASURE_SHARE = 0.85
CUFF_REMEASURE_S = (120.0, 600.0)
#: While the last SBP was below this, cycle at most every CUFF_LOW_INTERVAL_S. JUDGEMENT.
CUFF_WATCH_SBP = 100.0
CUFF_WATCH_INTERVAL_S = 1800.0
#: Jitter on the nurse's schedule (s, uniform +-). JUDGEMENT.
CUFF_JITTER_S = 120.0
#: Cycles with no MAP (issue #12: "sometimes without MAP"). Share JUDGEMENT.
CUFF_NO_MAP_SHARE = 0.15
#: Millisecond offsets of the parts (issue #12: sbp .000, map .001, dbp .002).
PART_OFFSET_S = {"sbp": 0.0, "map": 0.001, "dbp": 0.002}


def _nibp(
    traj: Trajectory, rng: np.random.Generator, start: float, rows: _Rows, events: dict[str, int]
) -> tuple[np.ndarray, ...]:
    p = traj.params
    dur = float(traj.t[-1])
    interval = float(p.nibp_interval_min) * 60.0
    bias = rng.normal(0.0, CUFF_BIAS_SD)
    cyc_t: list[float] = []
    cyc_v: list[tuple[float, float, float]] = []
    counts = {"cuff_cycles": 0, "cuff_failed": 0, "cuff_outlier": 0, "cuff_remeasure": 0}
    t = float(rng.uniform(0.0, min(interval, 600.0)))
    pending: list[tuple[float, str]] = []
    while t <= dur:
        counts["cuff_cycles"] += 1
        kind = "scheduled"
        if pending and pending[0][0] <= t:
            kind = pending.pop(0)[1]
        if rng.random() < CUFF_FAIL_SHARE:
            counts["cuff_failed"] += 1
            nxt = t + interval + rng.uniform(-CUFF_JITTER_S, CUFF_JITTER_S)
            if rng.random() < CUFF_RETRY_SHARE:
                nxt = t + rng.uniform(*CUFF_RETRY_S)
            t = nxt
            continue
        sbp = float(np.interp(t, traj.t, traj.sbp)) + bias + rng.normal(0.0, CUFF_ERROR_SD)
        mp = float(np.interp(t, traj.t, traj.map)) + 0.6 * bias + rng.normal(0.0, CUFF_ERROR_SD)
        dbp = float(np.interp(t, traj.t, traj.dbp)) + 0.4 * bias + rng.normal(0.0, CUFF_ERROR_SD)
        if rng.random() < CUFF_OUTLIER_SHARE:
            counts["cuff_outlier"] += 1
            err = rng.uniform(*CUFF_OUTLIER_MMHG) * (1 if rng.random() < 0.5 else -1)
            sbp += err
            mp += CUFF_OUTLIER_DIA_FRAC * err
            dbp += CUFF_OUTLIER_DIA_FRAC * err
        sbp = round(max(sbp, 40.0))
        dbp = round(min(max(dbp, 20.0), sbp - 10.0))
        mp = round(min(max(mp, dbp + 1.0), sbp - 1.0))
        cyc_t.append(t)
        cyc_v.append((sbp, mp, dbp))
        if kind == "remeasure":
            counts["cuff_remeasure"] += 1
        step = interval + rng.uniform(-CUFF_JITTER_S, CUFF_JITTER_S)
        if sbp < CUFF_WATCH_SBP:
            step = min(step, CUFF_WATCH_INTERVAL_S)
        nxt = t + step
        if sbp < CUFF_LOW_SBP and kind != "remeasure" and rng.random() < CUFF_REMEASURE_SHARE:
            nxt = t + rng.uniform(*CUFF_REMEASURE_S)
            pending = [(nxt, "remeasure")]
        t = nxt
    events.update(counts)
    ct = np.asarray(cyc_t, float)
    v = np.asarray(cyc_v, float).reshape(-1, 3)
    stamp = _minute_stamp(rng, start + ct)
    no_map = rng.random(len(ct)) < CUFF_NO_MAP_SHARE
    events["cuff_no_map"] = int(no_map.sum())
    for col, name in enumerate(("sbp", "map", "dbp")):
        sel = ~no_map if name == "map" else np.ones(len(ct), bool)
        # Each part arrives on its own, so the three are in random order.
        _charted(rng, rows, ct[sel], stamp[sel] + PART_OFFSET_S[name], SIG[name], v[sel, col])
    map_view = v[:, 1].copy()
    map_view[no_map] = np.nan
    return stamp, v[:, 0], map_view, v[:, 2]
