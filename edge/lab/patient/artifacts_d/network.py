"""Model D's path from the bedside monitor to capleak: clock, latency, stalls, resends.

The monitor stamps each second with its own clock: a constant offset, and in some stays
one forward correction (a clock that ran slow set right by time sync), so stamps skip but
never repeat. Rows reach capleak after a small latency with an occasional spike (a row
overtaken by the next: out of order). The link stalls now and then; at the end of a stall
the gateway either flushes its backlog in order (late rows), sends live rows first and
trickles the backlog in behind them (late *and* out of order), or has lost the backlog (a
gap). Before the backlog it may re-send the last seconds it sent before the stall
(duplicates: the same stamp, value and flags).
"""

from __future__ import annotations

import math

import numpy as np

#: Monitor clock offset from the ward's true time, s (sd, clip). JUDGEMENT: unsynchronised
#: bedside monitor clocks are commonly tens of seconds to minutes off.
CLOCK_OFFSET_SD_S = 45.0
CLOCK_OFFSET_MAX_S = 180.0
#: Share of stays with one forward clock correction, and its size, s. JUDGEMENT.
CLOCK_STEP_SHARE = 0.3
CLOCK_STEP_S = (30, 150)
#: Latency: fixed + exponential mean, s; a spike of extra delay on a share of rows. JUDGEMENT.
LATENCY_S = 0.25
LATENCY_MEAN_S = 0.2
LATENCY_SPIKE_SHARE = 0.003
LATENCY_SPIKE_S = (1.2, 4.0)
#: Link stalls per hour and their duration (lognormal median s, log sd, clip). JUDGEMENT.
STALL_PER_H = 0.25
STALL_DURATION_S = (40.0, 1.0, (5.0, 900.0))
#: What the gateway does after a stall: flush in order / live first / backlog lost.
STALL_POLICY = {"flush": 0.55, "live_first": 0.3, "lost": 0.15}
#: Share of stalls followed by a re-send of the seconds before it, and how many s.
RESEND_SHARE = 0.5
RESEND_S = (5, 30)
#: Backlog send rate when it trickles in behind live rows, s of backlog per s. JUDGEMENT.
TRICKLE_RATE = 4.0


def monitor_clock(rng: np.random.Generator, n: int, events: dict[str, int]) -> np.ndarray:
    """The monitor's offset (s, whole seconds) at each true second: never decreasing."""
    offset = float(np.clip(round(rng.normal(0.0, CLOCK_OFFSET_SD_S)), -180.0, 180.0))
    off = np.full(n, offset)
    events["clock_offset_s"] = int(offset)
    events["clock_step"] = 0
    if rng.random() < CLOCK_STEP_SHARE and n > 2:
        at = int(rng.integers(1, n))
        step = int(rng.integers(*CLOCK_STEP_S, endpoint=True))
        off[at:] += step
        events["clock_step"] = 1
        events["clock_step_s"] = step
    return off


def deliver(
    sec: np.ndarray, rng: np.random.Generator, events: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Which of the emitted seconds ``sec`` reach capleak and when.

    Returns ``(index, arrival)``: indices into ``sec`` (a second may come twice, or
    not at all) and arrival times in true seconds from the start, in no particular order.
    """
    m = len(sec)
    arrival = sec + LATENCY_S + rng.exponential(LATENCY_MEAN_S, m)
    spike = rng.random(m) < LATENCY_SPIKE_SHARE
    arrival[spike] += rng.uniform(*LATENCY_SPIKE_S, int(spike.sum()))
    events["late_spikes"] = int(spike.sum())
    keep = np.ones(m, dtype=bool)
    extra_idx: list[np.ndarray] = []
    extra_arr: list[np.ndarray] = []
    for key in ("stalls", "stall_flush", "stall_live_first", "stall_lost", "lost_rows"):
        events[key] = 0
    events["resent_rows"] = 0
    if m == 0:
        return np.arange(0), arrival
    span = float(sec[-1] - sec[0]) + 1.0
    k = int(rng.poisson(STALL_PER_H * span / 3600.0))
    names = list(STALL_POLICY)
    for a in np.sort(rng.uniform(sec[0], sec[-1], k)).tolist():
        med, logsd, (lo, hi) = STALL_DURATION_S
        b = a + float(np.clip(med * math.exp(rng.normal(0.0, logsd)), lo, hi))
        i, j = int(np.searchsorted(sec, a)), int(np.searchsorted(sec, b))
        policy = names[int(rng.choice(len(names), p=list(STALL_POLICY.values())))]
        events["stalls"] += 1
        events[f"stall_{policy}"] += 1
        if policy == "flush":
            arrival[i:j] = b + 0.002 * np.arange(j - i)
        elif policy == "live_first":
            # the backlog trickles in behind the live rows, in order
            arrival[i:j] = b + 1.0 + (sec[i:j] - a) / TRICKLE_RATE
        else:
            keep[i:j] = False
            events["lost_rows"] += j - i
        if rng.random() < RESEND_SHARE and i > 0:
            r = int(rng.integers(*RESEND_S, endpoint=True))
            h = max(0, i - r)
            extra_idx.append(np.arange(h, i))
            extra_arr.append(b - 0.5 + 0.002 * np.arange(i - h))
            events["resent_rows"] += i - h
    idx = np.concatenate([np.flatnonzero(keep), *extra_idx]).astype(np.int64)
    arr = np.concatenate([arrival[keep], *extra_arr])
    return idx, arr
