"""Model D's NIBP: the ward's automatic cycles, a pressure-dependent cuff error, failures,
nurse re-measures and charting.

The ward's schedule is the trajectory's own (``Trajectory.nibp``: the fluid protocol
reacted to those cycles); model D draws its own values at those times from the TRUE
pressures, and keeps the trajectory's failed cycles failed. Per cycle:

- the monitor's patient-level bias, a regression towards normal (oscillometry
  over-reads low and under-reads high systolic pressure; the direction is the published
  one, e.g. Wax 2011 and Lehman 2013 against arterial lines, the size is JUDGEMENT), and
  a per-reading error shared in part by the three parts (+-5 mmHg, signal-processing.md);
- about 4 % unflagged outliers (patient moving, cuff slipped), mostly high;
- failed cycles (no rows), retried once by the monitor after a few minutes;
- after a SBP below 90 a nurse re-measures in a few minutes: with the monitor (its rows
  stamped like any cycle) or by hand (sys/dia only, no MAP, charted late, the time
  rounded to 5 minutes);
- the parts come as separate rows in any order, each with its own stamp (the monitor's
  clock at the moment each was determined; on monitors with a minute-resolution NIBP
  clock the stamp is floored to the minute); a share of cycles have no MAP;
- some automatic cycles reach capleak only when a nurse validates them (late).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge.lab.patient.model import Trajectory

#: A cycle takes this long, s, after its scheduled minute. JUDGEMENT.
CYCLE_S = (25.0, 50.0)
#: Patient-level bias sd, mmHg: sys, map, dia. JUDGEMENT.
BIAS_SD = (4.0, 2.5, 4.0)
#: Per-reading error: a part shared by the three, and each part's own, sd mmHg. The total
#: is about the +-5 mmHg of signal-processing.md.
ERROR_SHARED_SD = 3.0
ERROR_OWN_SD = (3.5, 2.0, 3.5)
#: Regression towards normal: over-read per mmHg of SBP below ``LOW_PIVOT``, under-read per
#: mmHg above ``HIGH_PIVOT`` (direction: Wax 2011, Lehman 2013; size JUDGEMENT).
LOW_PIVOT = 100.0
LOW_OVERREAD = 0.15
HIGH_PIVOT = 150.0
HIGH_UNDERREAD = 0.1
#: Unflagged outliers: share, size mmHg (on SBP; MAP 0.8x, DBP 0.6x), share high.
OUTLIER_SHARE = 0.04
OUTLIER_MMHG = (15.0, 45.0)
OUTLIER_HIGH_SHARE = 0.65
#: Cycles model D fails on top of the trajectory's failed ones, and the monitor's retry.
FAIL_SHARE = 0.04
RETRY_SHARE = 0.6
RETRY_AFTER_S = (120.0, 180.0)
#: A nurse re-measures a SBP below this (clinical.md hold criterion) with this chance,
#: after this delay; by hand in a share of re-measures. JUDGEMENT.
CUFF_LOW_SBP = 90.0
REMEASURE_SHARE = 0.7
REMEASURE_AFTER_S = (120.0, 480.0)
MANUAL_SHARE = 0.4
#: A hand reading is rounded to 2 mmHg (as read off an aneroid gauge) and its time to 5 min.
MANUAL_ROUND_MMHG = 2.0
MANUAL_ROUND_S = 300.0
#: Charting delay of a hand reading, s (lognormal median, log sd, clip). JUDGEMENT.
MANUAL_DELAY_S = (1500.0, 0.6, (180.0, 7200.0))
#: Share of monitors whose NIBP stamps are floored to the minute. JUDGEMENT.
MINUTE_CLOCK_SHARE = 0.5
#: Each part is determined up to this many s apart during deflation. JUDGEMENT.
PART_SPREAD_S = 3
#: Share of monitor cycles that come without MAP. JUDGEMENT.
NO_MAP_SHARE = 0.06
#: Share of monitor cycles that wait for a nurse's validation, and the wait, s.
VALIDATION_SHARE = 0.08
VALIDATION_DELAY_S = (1800.0, 0.7, (300.0, 10800.0))
#: Arrival of a monitor cycle's parts after the cycle ends, s. JUDGEMENT.
PART_ARRIVAL_S = (0.5, 4.0)


@dataclass(slots=True)
class Cycle:
    """One NIBP measurement with values: parts' stamps (epoch), arrivals (true s)."""

    sbp: float
    map: float  # NaN when there is no MAP
    dbp: float
    stamps: tuple[float, float, float]
    arrivals: tuple[float, float, float]


@dataclass(slots=True)
class Nibp:
    cycles: list[Cycle] = field(default_factory=list)
    #: ends of every attempted cycle on the monitor (true s), for the cuff-arm oximeter
    ends: list[float] = field(default_factory=list)


def _lognormal(rng: np.random.Generator, spec: tuple[float, float, tuple[float, float]]) -> float:
    median, logsd, (lo, hi) = spec
    return float(np.clip(median * math.exp(rng.normal(0.0, logsd)), lo, hi))


def _regression(sbp: float) -> float:
    """The systematic cuff error at a true SBP.

    >>> _regression(80.0), _regression(120.0), _regression(170.0)
    (3.0, 0.0, -2.0)
    """
    return LOW_OVERREAD * max(LOW_PIVOT - sbp, 0.0) - HIGH_UNDERREAD * max(sbp - HIGH_PIVOT, 0.0)


def measure_nibp(
    traj: Trajectory,
    rng: np.random.Generator,
    start: float,
    clock: np.ndarray,
    events: dict[str, int],
) -> Nibp:
    """Model D's NIBP cycles; ``clock`` is the monitor's offset per true second."""
    bias = np.asarray([rng.normal(0.0, sd) for sd in BIAS_SD])
    minute_clock = bool(rng.random() < MINUTE_CLOCK_SHARE)
    events["nibp_minute_clock"] = int(minute_clock)
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
    ):
        events[key] = 0
    out = Nibp()
    end_s = float(traj.t[-1])

    def truth(t: float) -> np.ndarray:
        return np.asarray([float(np.interp(t, traj.t, x)) for x in (traj.sbp, traj.map, traj.dbp)])

    def values(t: float, own_bias: np.ndarray) -> tuple[np.ndarray, bool]:
        v = truth(t)
        v = v + own_bias + _regression(v[0]) * np.asarray([1.0, 0.7, 0.5])
        v += rng.normal(0.0, ERROR_SHARED_SD) + rng.normal(0.0, 1.0, 3) * ERROR_OWN_SD
        outlier = bool(rng.random() < OUTLIER_SHARE)
        if outlier:
            size = float(rng.uniform(*OUTLIER_MMHG))
            sign = 1.0 if rng.random() < OUTLIER_HIGH_SHARE else -1.0
            v += sign * size * np.asarray([1.0, 0.8, 0.6])
        s, m, d = (float(round(x)) for x in v)
        s = max(s, 40.0)
        d = min(max(d, 20.0), s - 6.0)
        m = min(max(m, d + 2.0), s - 2.0)
        return np.asarray([s, m, d]), outlier

    def monitor_cycle(end: float) -> None:
        out.ends.append(end)
        events["cuff_cycles"] += 1
        v, outlier = values(end - 15.0, bias)
        events["cuff_outlier"] += int(outlier)
        no_map = bool(rng.random() < NO_MAP_SHARE)
        events["cuff_no_map"] += int(no_map)
        i = min(int(end), len(clock) - 1)
        parts = end + rng.integers(0, PART_SPREAD_S + 1, 3)
        stamps = start + parts + clock[i]
        if minute_clock:
            stamps = np.floor(stamps / 60.0) * 60.0
        events["cuff_split_stamps"] += int(len(set(stamps.tolist())) > 1)
        arrivals = end + rng.uniform(*PART_ARRIVAL_S, 3)
        if rng.random() < VALIDATION_SHARE:
            arrivals += _lognormal(rng, VALIDATION_DELAY_S)
            events["cuff_late"] += 1
        out.cycles.append(
            Cycle(
                float(v[0]),
                math.nan if no_map else float(v[1]),
                float(v[2]),
                (float(stamps[0]), float(stamps[1]), float(stamps[2])),
                (float(arrivals[0]), float(arrivals[1]), float(arrivals[2])),
            )
        )
        if v[0] < CUFF_LOW_SBP and rng.random() < REMEASURE_SHARE:
            events["cuff_remeasure"] += 1
            again = end + float(rng.uniform(*REMEASURE_AFTER_S))
            if again >= end_s:
                return
            if rng.random() < MANUAL_SHARE:
                manual(again)
            else:
                attempt(again, retry=False)

    def manual(t: float) -> None:
        events["cuff_manual"] += 1
        v, _ = values(t, np.zeros(3))
        s = MANUAL_ROUND_MMHG * round(v[0] / MANUAL_ROUND_MMHG)
        d = MANUAL_ROUND_MMHG * round(v[2] / MANUAL_ROUND_MMHG)
        stamp = start + MANUAL_ROUND_S * round(t / MANUAL_ROUND_S)
        arrival = max(t, stamp - start) + _lognormal(rng, MANUAL_DELAY_S)
        events["cuff_no_map"] += 1
        events["cuff_late"] += 1
        out.cycles.append(Cycle(s, math.nan, d, (stamp, stamp, stamp), (arrival, arrival, arrival)))

    def attempt(end: float, retry: bool, failed: bool = False) -> None:
        if failed or rng.random() < FAIL_SHARE:
            out.ends.append(end)
            events["cuff_failed"] += 1
            if retry and rng.random() < RETRY_SHARE:
                events["cuff_retry"] += 1
                again = end + float(rng.uniform(*RETRY_AFTER_S))
                if again < end_s:
                    attempt(again, retry=False)
            return
        monitor_cycle(end)

    for t, _s, _m, _d, kind in traj.nibp:
        end = t + float(rng.uniform(*CYCLE_S))
        if end >= end_s:
            continue
        attempt(end, retry=True, failed=kind == "failed")
    return out
