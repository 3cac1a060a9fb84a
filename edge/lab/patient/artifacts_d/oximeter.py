"""Model D's bedside pulse oximeter: one value a second of SpO2 and pulse, PI every few s.

The device works on the true 1-minute trajectory interpolated to 1 s, in this order:

1. *physiology the truth does not hold*: sleep desaturations (obstructive dips while
   asleep) in a share of patients, logged as ``sleep_desaturation`` (they are real);
2. *sensor*: correlated measurement noise, motion (a dip; flagged motion also loses the
   pulse and is flagged ``artifact`` only after a lag), perfusion (PI falls with chills
   after a dose, with low pressure, in spontaneous episodes and, in patients whose probe
   is on the cuff arm, during every NIBP cycle); low PI adds noise and a low bias and is
   flagged ``low_perfusion``, very low PI is a dropout (``searching``);
3. *device averaging*: a causal moving average over the patient's averaging time;
4. *overrides*: probe-off (unflagged garbage, ``searching``, then ``sensor_off`` rows or
   silence, ``searching`` again and a re-attach ramp from below).

Sizes and rates are named constants marked with their source or JUDGEMENT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge.lab.patient.artifacts_b.streams import (
    F_ARTIFACT,
    F_LOWPERF,
    F_NONE,
    F_SEARCHING,
    F_SENSOR_OFF,
)
from edge.lab.patient.model import Trajectory

# --- ward day -------------------------------------------------------------------------------
#: Lights out and waking, hours of the ward clock (UTC here); each patient's own times are
#: drawn within these ranges. JUDGEMENT.
SLEEP_ONSET_H = (22.5, 24.0)
WAKE_H = (5.5, 7.0)

# --- measurement noise and averaging ----------------------------------------------------------
#: Averaging times a ward sets, one drawn per patient (Masimo offers 2-16 s; 8 s is the
#: common default; signal-processing.md "Averaging"). JUDGEMENT for the mix.
AVERAGING_S = (4, 8, 8, 8, 12, 16)
#: Pulse rate averaging, s. JUDGEMENT.
PULSE_AVERAGING_S = 6
#: SpO2 sensor noise before averaging: AR(1) sd in points and time constant s. JUDGEMENT.
SPO2_NOISE_SD = 1.1
SPO2_NOISE_TAU_S = 4.0
#: Pulse sensor noise before averaging, /min. JUDGEMENT.
PULSE_NOISE_SD = 2.0
#: A patient's SpO2 calibration offset (sd, points): oximeters read within +-2 points of
#: arterial saturation. JUDGEMENT within that accuracy claim.
CALIBRATION_SD = 0.8

# --- motion -----------------------------------------------------------------------------------
#: Motion episodes per hour awake / asleep. JUDGEMENT.
MOTION_PER_H_AWAKE = 1.4
MOTION_PER_H_ASLEEP = 0.35
#: Duration: lognormal median s, log sd, clip. JUDGEMENT.
MOTION_DURATION_S = (18.0, 0.7, (4.0, 180.0))
#: Depth of the reading's dip, points (lognormal median, log sd, clip). JUDGEMENT.
MOTION_DEPTH = (5.0, 0.6, (1.5, 25.0))
#: Share of motion the device flags (the rest: a dip with a steady pulse). JUDGEMENT.
MOTION_FLAGGED_SHARE = 0.55
#: Flag lag after the motion starts, s (the brief's 2-8 s).
MOTION_FLAG_LAG_S = (2.0, 8.0)
#: The flag outlasts the motion by this much, s. JUDGEMENT.
MOTION_FLAG_HANG_S = (1.0, 5.0)
#: Pulse scatter while the device has lost the pulse in flagged motion, /min. JUDGEMENT.
MOTION_PULSE_SCATTER = 18.0

# --- probe off ------------------------------------------------------------------------------
#: Probe-off episodes per hour awake / asleep. JUDGEMENT.
PROBE_OFF_PER_H_AWAKE = 0.14
PROBE_OFF_PER_H_ASLEEP = 0.07
#: Phases, s: unflagged garbage, first searching, off (lognormal median, log sd, clip),
#: searching on re-attach, ramp up from below. JUDGEMENT.
PROBE_GARBAGE_S = (3, 12)
PROBE_SEARCH_S = (4, 15)
PROBE_OFF_S = (200.0, 1.0, (20.0, 3600.0))
#: Off periods found by a nurse asleep last longer (factor). JUDGEMENT.
PROBE_OFF_ASLEEP_FACTOR = 2.5
PROBE_REACQUIRE_S = (5, 15)
PROBE_RAMP_S = (6, 20)
#: The ramp starts this many points below the true value. JUDGEMENT.
PROBE_RAMP_DEPTH = (3.0, 10.0)
#: Share of patients whose device goes silent rather than sending ``sensor_off`` rows
#: while the probe is off. JUDGEMENT.
PROBE_SILENT_SHARE = 0.3

# --- perfusion ------------------------------------------------------------------------------
#: Baseline perfusion index, % (lognormal median, log sd, clip). JUDGEMENT (adult PI is
#: commonly 1-5 %).
PI_BASE = (2.2, 0.45, (0.6, 9.0))
#: Slow PI wander: log sd and time constant min. JUDGEMENT.
PI_WANDER = (0.3, 40.0)
#: Chills 1-2 h after a dose (clinical.md, Dutcher 2014) constrict the fingers: PI factor.
PI_CHILLS_WINDOW_S = (3600.0, 7200.0)
PI_CHILLS_FACTOR = 0.45
#: PI falls with MAP below the patient's start: factor (MAP / MAP0) ** this. JUDGEMENT.
PI_MAP_EXPONENT = 2.0
#: Spontaneous low-perfusion episodes (cold hands, arm position) per hour. JUDGEMENT.
LOWPERF_PER_H = 0.08
LOWPERF_DURATION_S = (240.0, 0.7, (60.0, 1500.0))
LOWPERF_FACTOR = (0.03, 0.2)
#: Share of patients with the probe on the NIBP cuff's arm: each cycle occludes the finger.
CUFF_ARM_SHARE = 0.35
#: Occlusion within a cycle, s before the cycle's end (cuff above diastolic). JUDGEMENT.
CUFF_OCCLUSION_S = (32.0, 8.0)
CUFF_OCCLUSION_FACTOR = 0.02
#: The device flags low perfusion below this PI, % (JUDGEMENT; devices flag at 0.2-0.5 %).
LOWPERF_PI_FLAG = 0.3
#: Below this PI the device loses the pulse: ``searching``, no number. JUDGEMENT.
DROPOUT_PI = 0.08
#: SpO2 under low perfusion: extra noise sd and a low bias, points at PI -> 0. JUDGEMENT.
LOWPERF_NOISE_SD = 1.5
LOWPERF_BIAS = 3.0
#: PI is reported every this many seconds. JUDGEMENT.
PI_EVERY_S = 5

# --- sleep desaturations -------------------------------------------------------------------------
#: Share of patients with obstructive sleep apnoea (JUDGEMENT; adult OSA prevalence is
#: commonly put at 10-30 %).
OSA_SHARE = 0.3
#: Oxygen desaturation index, dips per hour asleep (lognormal median, log sd, clip); an
#: ODI of 5-15 is mild, 15-30 moderate OSA (AASM grading). JUDGEMENT for the mix.
ODI_PER_H = (9.0, 0.5, (4.0, 30.0))
#: Shape: fall s, nadir hold s, recovery s (a slow fall, a quick recovery). JUDGEMENT.
DESAT_FALL_S = (10, 28)
DESAT_HOLD_S = (2, 10)
DESAT_RECOVER_S = (6, 14)
#: Depth points: 3 + exponential(mean), clipped (JUDGEMENT; a 3 % dip is the usual ODI
#: criterion).
DESAT_DEPTH = (3.0, 14.0)
DESAT_DEPTH_MEAN_EXTRA = 2.5
#: Arousal at the end of a dip: pulse rise /min. JUDGEMENT.
DESAT_AROUSAL_PULSE = (4.0, 12.0)


@dataclass(slots=True)
class Oximetry:
    """The device's per-second output (true seconds ``t`` from the start).

    ``shown`` is False where the device sends nothing (silent probe-off); ``spo2``,
    ``pulse`` and ``pi`` are 0 under the blank flags."""

    t: np.ndarray
    spo2: np.ndarray
    pulse: np.ndarray
    pi: np.ndarray
    flag: np.ndarray
    shown: np.ndarray
    log: list[tuple[str, float, float, float]] = field(default_factory=list)


def _lognormal(rng: np.random.Generator, spec: tuple[float, float, tuple[float, float]]) -> float:
    median, logsd, (lo, hi) = spec
    return float(np.clip(median * math.exp(rng.normal(0.0, logsd)), lo, hi))


def asleep_mask(epoch: np.ndarray, onset_h: float, wake_h: float) -> np.ndarray:
    """True where the ward clock's hour is between ``onset_h`` and ``wake_h`` (over midnight).

    >>> asleep_mask(np.array([0.0, 12 * 3600.0]), 23.0, 6.0).tolist()
    [True, False]
    """
    h = (epoch % 86400.0) / 3600.0
    return (h >= onset_h) | (h < wake_h)


def _poisson(
    rng: np.random.Generator, n: int, rate_awake: float, rate_asleep: float, asleep: np.ndarray
) -> np.ndarray:
    """Start seconds of a Poisson process whose hourly rate depends on sleep (thinning)."""
    top = max(rate_awake, rate_asleep)
    k = int(rng.poisson(top * n / 3600.0))
    s = np.sort(rng.integers(0, n, k))
    rate = np.where(asleep[s], rate_asleep, rate_awake)
    return s[rng.random(k) < rate / top]


def _ar1(rng: np.random.Generator, n: int, sd: float, tau: float) -> np.ndarray:
    """AR(1) noise with stationary sd ``sd`` and time constant ``tau`` samples."""
    from scipy.signal import lfilter  # type: ignore[import-untyped]

    a = math.exp(-1.0 / tau)
    w = rng.normal(0.0, sd * math.sqrt(1.0 - a * a), n)
    w[0] = rng.normal(0.0, sd)
    return np.asarray(lfilter([1.0], [1.0, -a], w), dtype=float)


def _moving_average(x: np.ndarray, w: int) -> np.ndarray:
    """Causal mean of the last ``w`` samples (fewer at the start)."""
    c = np.concatenate(([0.0], np.cumsum(x)))
    i = np.arange(1, len(x) + 1)
    lo = np.maximum(i - w, 0)
    return (c[i] - c[lo]) / (i - lo)


def measure_oximeter(
    traj: Trajectory,
    rng: np.random.Generator,
    start: float,
    cycle_ends: np.ndarray,
    events: dict[str, int],
) -> Oximetry:
    """The device output over the stay; ``cycle_ends`` are NIBP cycle ends (true s)."""
    n = int(traj.t[-1]) + 1
    t = np.arange(n, dtype=float)
    onset = float(rng.uniform(*SLEEP_ONSET_H)) % 24.0
    wake = float(rng.uniform(*WAKE_H))
    asleep = asleep_mask(start + t, onset, wake)
    log: list[tuple[str, float, float, float]] = []

    true_spo2 = np.interp(t, traj.t, traj.spo2)
    true_hr = np.interp(t, traj.t, traj.hr)
    spo2 = true_spo2 + rng.normal(0.0, CALIBRATION_SD)
    pulse = true_hr.copy()

    # 1. sleep desaturations: real dips, not in the truth
    osa = bool(rng.random() < OSA_SHARE)
    events["osa_patient"] = int(osa)
    events["sleep_desaturation"] = 0
    if osa:
        odi = _lognormal(rng, ODI_PER_H)
        s = 0
        while True:
            s += int(rng.exponential(3600.0 / odi))
            if s >= n:
                break
            if not asleep[s]:
                continue
            fall = int(rng.integers(*DESAT_FALL_S, endpoint=True))
            hold = int(rng.integers(*DESAT_HOLD_S, endpoint=True))
            rec = int(rng.integers(*DESAT_RECOVER_S, endpoint=True))
            depth = float(
                np.clip(DESAT_DEPTH[0] + rng.exponential(DESAT_DEPTH_MEAN_EXTRA), *DESAT_DEPTH)
            )
            shape = np.concatenate(
                (
                    np.linspace(0.0, 1.0, fall, endpoint=False),
                    np.ones(hold),
                    np.linspace(1.0, 0.0, rec),
                )
            )
            e = min(s + len(shape), n)
            spo2[s:e] -= depth * shape[: e - s]
            arousal = float(rng.uniform(*DESAT_AROUSAL_PULSE))
            r0 = min(s + fall + hold, n)
            pulse[r0 : min(r0 + rec + 10, n)] += arousal
            log.append(("sleep_desaturation", float(s), float(e), round(depth, 2)))
            events["sleep_desaturation"] += 1
            s = e

    # 2. sensor: noise, motion, perfusion
    spo2 += _ar1(rng, n, SPO2_NOISE_SD, SPO2_NOISE_TAU_S)
    pulse += rng.normal(0.0, PULSE_NOISE_SD, n)
    flag = np.full(n, F_NONE, dtype=np.int8)
    artifact = np.zeros(n, dtype=bool)
    events["motion"] = events["motion_flagged"] = 0
    for s in _poisson(rng, n, MOTION_PER_H_AWAKE, MOTION_PER_H_ASLEEP, asleep).tolist():
        dur = round(_lognormal(rng, MOTION_DURATION_S))
        e = min(s + dur, n)
        k = np.arange(e - s)
        depth = _lognormal(rng, MOTION_DEPTH)
        # a wandering trough: a smooth dip with second-to-second scatter
        trough = np.sin(np.pi * (k + 0.5) / max(e - s, 1)) ** 0.6
        spo2[s:e] -= depth * trough + np.abs(rng.normal(0.0, depth / 3.0, e - s))
        lag = math.nan
        if rng.random() < MOTION_FLAGGED_SHARE:
            lag = float(rng.integers(int(MOTION_FLAG_LAG_S[0]), int(MOTION_FLAG_LAG_S[1]) + 1))
            hang = int(rng.integers(int(MOTION_FLAG_HANG_S[0]), int(MOTION_FLAG_HANG_S[1]) + 1))
            artifact[min(s + int(lag), n) : min(e + hang, n)] = True
            pulse[s + 1 : e] += rng.normal(0.0, MOTION_PULSE_SCATTER, max(e - s - 1, 0))
            events["motion_flagged"] += 1
        log.append(("motion", float(s), float(e), lag))
        events["motion"] += 1

    pi = np.exp(_ar1(rng, n // 60 + 2, PI_WANDER[0], PI_WANDER[1]))
    pi = _lognormal(rng, PI_BASE) * np.interp(t, np.arange(len(pi)) * 60.0, pi)
    pi *= np.clip(np.interp(t, traj.t, traj.map) / traj.map[0], 0.2, 1.2) ** PI_MAP_EXPONENT
    for d in traj.doses_given:
        a, b = int(d + PI_CHILLS_WINDOW_S[0]), int(d + PI_CHILLS_WINDOW_S[1])
        pi[min(a, n) : min(b, n)] *= PI_CHILLS_FACTOR
    events["low_perfusion"] = events["cuff_occlusion"] = 0
    episodes: list[tuple[int, int]] = []
    for s in _poisson(rng, n, LOWPERF_PER_H, LOWPERF_PER_H, asleep).tolist():
        e = min(s + int(_lognormal(rng, LOWPERF_DURATION_S)), n)
        depth = float(rng.uniform(*LOWPERF_FACTOR))
        # a slow fall into the episode and a slow recovery (15 % of it each way)
        k = np.arange(e - s) / max(e - s - 1, 1)
        edge = np.clip(np.minimum(k, 1.0 - k) / 0.15, 0.0, 1.0)
        pi[s:e] *= 1.0 - (1.0 - depth) * edge
        episodes.append((s, e))
    if rng.random() < CUFF_ARM_SHARE:
        events["cuff_arm"] = 1
        for c in cycle_ends.tolist():
            s, e = int(c - CUFF_OCCLUSION_S[0]), int(c - CUFF_OCCLUSION_S[1])
            if 0 <= s < e <= n:
                pi[s:e] *= CUFF_OCCLUSION_FACTOR
                episodes.append((s, e))
                events["cuff_occlusion"] += 1
    for s, e in sorted(episodes):
        log.append(("low_perfusion", float(s), float(e), round(float(pi[s:e].min()), 3)))
        events["low_perfusion"] += 1
    pi = np.round(np.clip(pi, 0.01, 20.0), 2)  # as reported; the flags follow the reported PI
    low = pi < LOWPERF_PI_FLAG
    weak = np.clip(1.0 - pi / LOWPERF_PI_FLAG, 0.0, 1.0)
    spo2 -= LOWPERF_BIAS * weak + np.abs(rng.normal(0.0, LOWPERF_NOISE_SD, n)) * weak
    dropout = pi < DROPOUT_PI

    # 3. device averaging
    spo2 = _moving_average(spo2, int(rng.choice(AVERAGING_S)))
    pulse = _moving_average(pulse, PULSE_AVERAGING_S)
    flag[low] = F_LOWPERF
    flag[artifact] = F_ARTIFACT
    flag[dropout] = F_SEARCHING
    events["low_perfusion_flagged_s"] = int(low.sum())
    events["lowperf_dropout_s"] = int(dropout.sum())

    # 4. probe off: garbage, searching, off (rows or silence), searching, ramp
    shown = np.ones(n, dtype=bool)
    silent = bool(rng.random() < PROBE_SILENT_SHARE)
    events["probe_off"] = events["probe_silent_device"] = 0
    last_end = -1
    for s in _poisson(rng, n, PROBE_OFF_PER_H_AWAKE, PROBE_OFF_PER_H_ASLEEP, asleep).tolist():
        if s <= last_end:
            continue
        g = int(rng.integers(*PROBE_GARBAGE_S, endpoint=True))
        s1 = int(rng.integers(*PROBE_SEARCH_S, endpoint=True))
        off = _lognormal(rng, PROBE_OFF_S)
        if asleep[s]:
            off = min(off * PROBE_OFF_ASLEEP_FACTOR, PROBE_OFF_S[2][1])
        s2 = int(rng.integers(*PROBE_REACQUIRE_S, endpoint=True))
        r = int(rng.integers(*PROBE_RAMP_S, endpoint=True))
        b1 = s + g
        b2 = b1 + s1
        b3 = b2 + int(off)
        b4 = b3 + s2
        b5 = min(b4 + r, n)
        ga = min(b1, n)
        spo2[s:ga] = rng.uniform(55.0, 99.0, ga - s)
        pulse[s:ga] = rng.uniform(35.0, 170.0, ga - s)
        flag[s:ga] = F_NONE
        flag[min(b1, n) : min(b2, n)] = F_SEARCHING
        flag[min(b2, n) : min(b3, n)] = F_SENSOR_OFF
        if silent:
            shown[min(b2, n) : min(b3, n)] = False
        flag[min(b3, n) : min(b4, n)] = F_SEARCHING
        if b4 < n:
            m = b5 - b4
            ramp = np.linspace(float(rng.uniform(*PROBE_RAMP_DEPTH)), 0.0, m)
            spo2[b4:b5] = true_spo2[b4:b5] - ramp
            flag[b4:b5] = F_NONE
        log.append(("probe_off", float(s), float(b5), float(b1)))
        events["probe_off"] += 1
        events["probe_silent_device"] += int(silent)
        last_end = b5

    spo2 = np.clip(np.round(spo2), 1.0, 100.0)
    pulse = np.clip(np.round(pulse), 25.0, 250.0)
    blank = (flag == F_SEARCHING) | (flag == F_SENSOR_OFF)
    spo2[blank] = pulse[blank] = pi[blank] = 0.0
    log.sort(key=lambda e: e[1])
    return Oximetry(t, spo2, pulse, pi, flag, shown, log)
