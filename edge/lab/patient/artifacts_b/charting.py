"""Artifact model B, charted feeds (NIBP, weight, doses): a minute-resolution clock,
late and duplicated rows; doses charted late (see the package docstring)."""

from __future__ import annotations

import numpy as np

from edge.lab.patient.artifacts_b.streams import DOSE, F_NONE, _lognormal, _Rows
from edge.lab.patient.model import Trajectory

# --- charted feeds (NIBP, weight, doses) -----------------------------------------------
#: Monitor/charting clock offset SD (s); stamps have minute resolution (issue #12). JUDGEMENT.
CHART_CLOCK_OFFSET_SD_S = 45.0
#: Charted rows duplicated (re-sent) and their re-send delay (s). JUDGEMENT.
CHART_DUP_SHARE = 0.03
CHART_DUP_DELAY_S = (1.0, 600.0)
#: Charted rows arriving late: share, lognormal median delay (s), log-SD, clip. JUDGEMENT.
CHART_LATE_SHARE = 0.08
CHART_LATE_MEDIAN_S = 600.0
CHART_LATE_LOGSD = 1.0
CHART_LATE_CLIP_S = (60.0, 7200.0)

#: The parts' arrival spread after the cycle (s, uniform), in random order. JUDGEMENT.
PART_ARRIVAL_S = (0.5, 20.0)

# --- doses ---------------------------------------------------------------------------------
#: Doses charted late (issue #12): share, lognormal median delay (s), log-SD, clip. JUDGEMENT.
DOSE_LATE_SHARE = 0.6
DOSE_LATE_MEDIAN_S = 1200.0
DOSE_LATE_LOGSD = 0.8
DOSE_LATE_CLIP_S = (120.0, 3 * 3600.0)
#: The charted dose time is rounded to this (s). JUDGEMENT.
DOSE_CHART_ROUND_S = 300.0


def _minute_stamp(rng: np.random.Generator, t_abs: np.ndarray) -> np.ndarray:
    """A charting clock: one offset for the device, minute resolution."""
    off = rng.normal(0.0, CHART_CLOCK_OFFSET_SD_S)
    return np.floor((t_abs + off) / 60.0) * 60.0


def _charted(
    rng: np.random.Generator, rows: _Rows, t_true: np.ndarray, stamp: np.ndarray, sig, value
) -> None:
    """Rows of a charted feed: arrival after the event, some late, some duplicated."""
    n = len(t_true)
    if n == 0:
        return
    arrival = t_true + rng.uniform(*PART_ARRIVAL_S, n)
    late = rng.random(n) < CHART_LATE_SHARE
    arrival[late] += _lognormal(
        rng, CHART_LATE_MEDIAN_S, CHART_LATE_LOGSD, CHART_LATE_CLIP_S, int(late.sum())
    )
    rows.add(arrival, stamp, sig, value, F_NONE)
    dup = rng.random(n) < CHART_DUP_SHARE
    if dup.any():
        sig_arr = np.broadcast_to(np.asarray(sig), (n,))
        rows.add(
            arrival[dup] + rng.uniform(*CHART_DUP_DELAY_S, int(dup.sum())),
            stamp[dup],
            sig_arr[dup],
            np.asarray(value)[dup],
            F_NONE,
        )


def _doses(
    traj: Trajectory, rng: np.random.Generator, start: float, rows: _Rows, events: dict[str, int]
) -> np.ndarray:
    given = np.asarray(traj.doses_given, float)
    n = len(given)
    charted = np.round((start + given) / DOSE_CHART_ROUND_S) * DOSE_CHART_ROUND_S
    arrival = given + rng.uniform(10.0, 60.0, n)
    late = rng.random(n) < DOSE_LATE_SHARE
    arrival[late] = given[late] + _lognormal(
        rng, DOSE_LATE_MEDIAN_S, DOSE_LATE_LOGSD, DOSE_LATE_CLIP_S, int(late.sum())
    )
    events["dose_late"] = int(late.sum())
    rows.add(arrival, charted, DOSE, np.zeros(n), F_NONE)
    return charted
