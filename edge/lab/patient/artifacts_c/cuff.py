"""Model C's non-invasive blood pressure, as a charting (HL7-like) feed delivers it.

Automatic oscillometric cycles at the patient's base interval (SP "The data": every 15 min
to 4 h), tightened while the pressure reads low; each cycle has a per-patient bias, a
per-reading error shared in part by its three parts, a pressure-dependent over-reading in
hypotension, and some unflagged outliers. Cycles fail (no values) and are retried; a low
or sharply lower reading is re-measured by the nurse, sometimes with a manual cuff
(auscultation: no MAP, terminal-digit preference, charted late at minute resolution).

The feed sends SBP, DBP and MAP as separate observations: with their own stamps in some
cycles (a second or two apart), in any arrival order, some cycles without MAP; some
cycles arrive late, some twice.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from edge.lab.patient.artifacts_b.streams import F_NONE, SIG, _Rows
from edge.lab.patient.artifacts_c.transport import (
    CUFF_CLOCK_OFFSET_SD_S,
    DeviceClock,
    lognormal,
)
from edge.lab.patient.model import Trajectory

#: Per-patient bias SD, mmHg, systolic and diastolic. AAMI/ISO 81060-2 accepts a mean
#: difference <= 5 and SD <= 8 mmHg against the reference; JUDGEMENT 4 and 3.
CUFF_BIAS_SD = (4.0, 3.0)
#: Per-reading error: a part shared by the three values, and each part's own SD (sys,
#: map, dia), mmHg. SP "The data": +-5 mmHg measurement error. JUDGEMENT split.
CUFF_SHARED_SD = 4.0
CUFF_OWN_SD = (4.0, 2.5, 3.0)
#: Over-reading in hypotension, mmHg per mmHg of true SBP below 100: oscillometric
#: devices over-read low pressures against an arterial line (Wax 2011, Anesthesiology;
#: Lehman 2013, Crit Care Med). Slope JUDGEMENT.
CUFF_HYPO_OVERREAD = 0.15
#: Unflagged outliers (arm moved, wrong cuff size): share, size (mmHg), share upwards.
CUFF_OUTLIER_SHARE = 0.03
CUFF_OUTLIER_MMHG = (20.0, 45.0)
CUFF_OUTLIER_UP_SHARE = 0.7
#: Cycle duration, s: the stamp is the end of the cycle (oscillometry takes 20-45 s).
CUFF_CYCLE_S = 35.0
#: Failed cycles (no values): share, extra share when true SBP < 90 (weak oscillations),
#: the automatic retry's share and delay (s). JUDGEMENT.
CUFF_FAIL_SHARE = 0.05
CUFF_FAIL_LOW_EXTRA = 0.05
CUFF_RETRY_SHARE = 0.85
CUFF_RETRY_S = (60.0, 150.0)
#: A reading below this SBP, or this much below the last, is re-measured (nurse), with
#: this share, after this delay (s); this share of re-measures uses a manual cuff.
#: JUDGEMENT (common ward practice; CL Betof Warner 2024: recheck at 30 min after a bolus).
CUFF_LOW_SBP = 90.0
CUFF_DROP_MMHG = 25.0
CUFF_REMEASURE_SHARE = 0.7
CUFF_REMEASURE_S = (120.0, 300.0)
CUFF_MANUAL_SHARE = 0.3
#: While the cuff reads low the interval tightens to this (s) for this long (s). JUDGEMENT.
CUFF_WATCH_INTERVAL_S = 900.0
CUFF_WATCH_S = 7200.0
#: Manual readings: error SD (mmHg), share rounded to a multiple of 10 (terminal-digit
#: preference: zeros far above 20 % in charted manual BP; JUDGEMENT 40 %), else to even.
MANUAL_SD = 5.0
MANUAL_ZERO_SHARE = 0.4
#: Share of automatic cycles whose parts carry separate stamps (each numeric updated on
#: its own, 1-3 s apart), and whose MAP the feed does not send. JUDGEMENT.
CUFF_SPLIT_STAMP_SHARE = 0.3
CUFF_NO_MAP_SHARE = 0.08
#: Feed latency (s): median, log-SD, clip; each part's own spread (s); late share and
#: extra delay (s, interface queue backlog); duplicate share and delay (re-sent without
#: an ACK). JUDGEMENT.
FEED_LATENCY = (15.0, 0.8, (2.0, 600.0))
FEED_PART_SPREAD_S = 2.0
FEED_LATE_SHARE = 0.04
FEED_LATE_S = (300.0, 3600.0)
FEED_DUP_SHARE = 0.03
FEED_DUP_S = (30.0, 300.0)
#: Manual readings are charted this late (min): median, log-SD, clip. JUDGEMENT.
MANUAL_CHART_MIN = (15.0, 0.8, (2.0, 180.0))


@dataclass(slots=True)
class CuffViews:
    t: list[float] = field(default_factory=list)
    sbp: list[float] = field(default_factory=list)
    map: list[float] = field(default_factory=list)
    dbp: list[float] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)


def _manual_round(rng: np.random.Generator, x: float) -> float:
    if rng.random() < MANUAL_ZERO_SHARE:
        return 10.0 * round(x / 10.0)
    return 2.0 * round(x / 2.0)


def _next_auto(tc: float, watch_until: float, interval: float) -> float:
    """The next automatic cycle: the base interval, tightened while the cuff reads low."""
    return tc + (min(CUFF_WATCH_INTERVAL_S, interval) if tc < watch_until else interval)


def cuff(traj: Trajectory, rng: np.random.Generator, start: float, rows: _Rows) -> CuffViews:
    """Add the NIBP feed's rows to ``rows``; return the per-cycle views and counts."""
    clock = DeviceClock.draw(rng, start, CUFF_CLOCK_OFFSET_SD_S)
    bias_s, bias_d = (float(rng.normal(0.0, sd)) for sd in CUFF_BIAS_SD)
    dur = float(traj.t[-1])
    interval = 60.0 * float(traj.params.nibp_interval_min)
    out = CuffViews()
    ev = out.events
    for key in (
        "cuff_cycles",
        "cuff_failed",
        "cuff_retry",
        "cuff_outlier",
        "cuff_remeasure",
        "cuff_manual",
        "cuff_no_map",
        "cuff_split_stamps",
        "cuff_late",
        "cuff_duplicated",
    ):
        ev[key] = 0
    queue: list[tuple[float, str]] = [(float(rng.uniform(0.0, min(interval, 1800.0))), "auto")]
    watch_until = -math.inf
    last_s: float | None = None
    while queue:
        tc, kind = heapq.heappop(queue)
        if tc + CUFF_CYCLE_S > dur:
            continue
        ts, tm, td = (float(np.interp(tc, traj.t, x)) for x in (traj.sbp, traj.map, traj.dbp))
        ev["cuff_cycles"] += 1
        manual = kind == "manual"
        if not manual:
            p_fail = CUFF_FAIL_SHARE + (CUFF_FAIL_LOW_EXTRA if ts < 90.0 else 0.0)
            if rng.random() < p_fail:
                ev["cuff_failed"] += 1
                if kind == "auto":
                    heapq.heappush(queue, (_next_auto(tc, watch_until, interval), "auto"))
                if kind != "retry" and rng.random() < CUFF_RETRY_SHARE:
                    heapq.heappush(queue, (tc + rng.uniform(*CUFF_RETRY_S), "retry"))
                    ev["cuff_retry"] += 1
                continue
        if manual:
            s = _manual_round(rng, ts + rng.normal(0.0, MANUAL_SD))
            d = _manual_round(rng, td + rng.normal(0.0, MANUAL_SD))
            m = math.nan
            ev["cuff_manual"] += 1
        else:
            e = rng.normal(0.0, CUFF_SHARED_SD)
            over = CUFF_HYPO_OVERREAD * max(0.0, 100.0 - ts)
            s = ts + bias_s + over + e + rng.normal(0.0, CUFF_OWN_SD[0])
            m = tm + 0.5 * (bias_s + bias_d) + 0.6 * over + 0.7 * e + rng.normal(0, CUFF_OWN_SD[1])
            d = td + bias_d + 0.4 * over + 0.6 * e + rng.normal(0.0, CUFF_OWN_SD[2])
            if rng.random() < CUFF_OUTLIER_SHARE:
                delta = rng.uniform(*CUFF_OUTLIER_MMHG)
                delta *= 1.0 if rng.random() < CUFF_OUTLIER_UP_SHARE else -1.0
                s, m, d = s + delta, m + 0.6 * delta, d + 0.5 * delta
                ev["cuff_outlier"] += 1
            d = max(20.0, d)
            s = max(s, d + 10.0)
            m = float(np.clip(m, d + 2.0, s - 2.0))
            s, m, d = float(round(s)), float(round(m)), float(round(d))
            if rng.random() < CUFF_NO_MAP_SHARE:
                m = math.nan
                ev["cuff_no_map"] += 1
        d = min(d, s - 2.0)
        # the nurse's reaction to what the cuff shows
        if kind not in ("remeasure", "manual"):
            low = s < CUFF_LOW_SBP or (last_s is not None and last_s - s > CUFF_DROP_MMHG)
            if low and rng.random() < CUFF_REMEASURE_SHARE:
                nxt = "manual" if rng.random() < CUFF_MANUAL_SHARE else "remeasure"
                heapq.heappush(queue, (tc + rng.uniform(*CUFF_REMEASURE_S), nxt))
                ev["cuff_remeasure"] += 1
        if s < CUFF_LOW_SBP:
            watch_until = tc + CUFF_WATCH_S
        last_s = s
        if kind == "auto":
            heapq.heappush(queue, (_next_auto(tc, watch_until, interval), "auto"))
        # stamps and arrival
        names = ["sbp", "dbp"] + ([] if math.isnan(m) else ["map"])
        values = {"sbp": s, "dbp": d, "map": m}
        if manual:
            stamp0 = math.floor((start + tc) / 60.0) * 60.0
            stamps = dict.fromkeys(names, stamp0)
            med, lsd, clip = MANUAL_CHART_MIN
            arr0 = tc + 60.0 * float(lognormal(rng, med, lsd, clip, 1)[0])
        else:
            stamp0 = float(np.round(clock.stamp(tc + CUFF_CYCLE_S)))
            stamps = dict.fromkeys(names, stamp0)
            if rng.random() < CUFF_SPLIT_STAMP_SHARE:
                for j, nm in enumerate(names[1:], start=1):
                    stamps[nm] = stamp0 + j + float(rng.integers(0, 2))
                ev["cuff_split_stamps"] += 1
            med, lsd, clip = FEED_LATENCY
            arr0 = tc + CUFF_CYCLE_S + float(lognormal(rng, med, lsd, clip, 1)[0])
            if rng.random() < FEED_LATE_SHARE:
                arr0 += rng.uniform(*FEED_LATE_S)
                ev["cuff_late"] += 1
        arr = {nm: arr0 + rng.uniform(0.0, FEED_PART_SPREAD_S) for nm in names}
        copies = [0.0]
        if rng.random() < FEED_DUP_SHARE:
            copies.append(float(rng.uniform(*FEED_DUP_S)))
            ev["cuff_duplicated"] += 1
        for extra in copies:
            rows.add(
                np.array([arr[nm] + extra for nm in names]),
                np.array([stamps[nm] for nm in names]),
                np.array([SIG[nm] for nm in names]),
                np.array([values[nm] for nm in names]),
                F_NONE,
            )
        out.t.append(stamps["sbp"])
        out.sbp.append(s)
        out.map.append(m)
        out.dbp.append(d)
    return out
