"""Artifact model B, pulse oximeter: noise, motion dips, probe off, low perfusion, sleep
desaturations, and the oximeter's clock and arrival (see the package docstring)."""

from __future__ import annotations

import math

import numpy as np

from edge.lab.patient.artifacts_b.streams import (
    F_ARTIFACT,
    F_LOWPERF,
    F_NONE,
    F_SEARCHING,
    F_SENSOR_OFF,
    MONITOR_BLANK,
    SIG,
    _lognormal,
    _Rows,
)
from edge.lab.patient.model import Trajectory

# --- pulse oximeter ----------------------------------------------------------------------
#: Oximeter sample period (SP: "SpO2 + pulse rate: 1 Hz").
OX_PERIOD_S = 1.0
#: Perfusion-index sample period. JUDGEMENT.
PI_PERIOD_S = 30.0
#: Per-patient probe bias, SD in SpO2 points. JUDGEMENT (oximeters quote ~2 points Arms).
OX_BIAS_SD = 1.0
#: Slow measurement wander: SD (points) and correlation time (s). JUDGEMENT.
OX_NOISE_SD = 0.6
OX_NOISE_TAU_S = 20.0
#: Pulse-rate measurement noise, SD (/min). JUDGEMENT.
PULSE_NOISE_SD = 1.5
#: Per-patient typical perfusion index range (%). JUDGEMENT.
PI_RANGE = (1.5, 5.0)

#: Motion episodes per hour awake / asleep (SP: "motion artifacts ... devices flag some of
#: these, not all"; the rates are a JUDGEMENT).
MOTION_PER_H_AWAKE = 1.2
MOTION_PER_H_ASLEEP = 0.3
#: Motion episode duration: lognormal median (s), log-SD, clip (s). JUDGEMENT.
MOTION_DUR_MEDIAN_S = 12.0
MOTION_DUR_LOGSD = 0.7
MOTION_DUR_CLIP_S = (3.0, 120.0)
#: Depth of the SpO2 dip (points), uniform. JUDGEMENT.
MOTION_DEPTH = (4.0, 25.0)
#: Share of motion episodes the device flags ``artifact`` (SP: "devices flag some of
#: these, not all"; the share is a JUDGEMENT).
MOTION_FLAGGED_SHARE = 0.5
#: The flag appears this many seconds after the dip starts (issue #12: "flag lag of 2-8 s").
MOTION_FLAG_LAG_S = (2.0, 8.0)
#: Share of motion episodes with a steady (undisturbed) pulse (issue #12: "many with a
#: steady pulse"; the share is a JUDGEMENT).
MOTION_STEADY_PULSE_SHARE = 0.6
#: Pulse noise SD (/min) when motion does disturb the pulse. JUDGEMENT.
MOTION_PULSE_SD = 15.0

#: Probe-off episodes per hour (SP: "sensor-off and probe changes"; rate JUDGEMENT,
#: about twice a day).
PROBE_OFF_PER_H = 1.0 / 12.0
#: Garbage phase before the device notices (s), uniform; unflagged. JUDGEMENT.
PROBE_GARBAGE_S = (3.0, 20.0)
#: Off duration: lognormal median (s), log-SD, clip (s). JUDGEMENT (the real record in
#: shared/data has 189 min of SpO2 = 0, hence the long tail).
PROBE_OFF_MEDIAN_S = 360.0
PROBE_OFF_LOGSD = 1.2
PROBE_OFF_CLIP_S = (30.0, 4 * 3600.0)
#: Share of probe-offs where the device switches from ``searching`` to ``sensor_off``
#: after PROBE_SENSOR_OFF_AFTER_S. JUDGEMENT.
PROBE_SENSOR_OFF_SHARE = 0.3
PROBE_SENSOR_OFF_AFTER_S = 30.0
#: Re-attach ramp: duration (s) and the SpO2 it starts from, uniform. JUDGEMENT.
PROBE_RAMP_S = (8.0, 30.0)
PROBE_RAMP_FROM = (70.0, 88.0)

#: Low-perfusion episodes per hour, and the multiplier while true SBP < 90 (CL: hold
#: limit; vasoconstriction). JUDGEMENT.
LOWPERF_PER_H = 0.25
LOWPERF_HYPOTENSION_FACTOR = 3.0
#: Low-perfusion duration: lognormal median (s), log-SD, clip (s). JUDGEMENT.
LOWPERF_MEDIAN_S = 90.0
LOWPERF_LOGSD = 0.8
LOWPERF_CLIP_S = (20.0, 900.0)
#: During low perfusion: share of samples dropped (no row), flagged ``low_perfusion``,
#: and (the rest) unflagged. JUDGEMENT.
LOWPERF_DROP_SHARE = 0.4
LOWPERF_FLAGGED_SHARE = 0.45
#: Low bias (points, uniform) and extra noise SD of low-perfusion readings. JUDGEMENT.
LOWPERF_BIAS = (0.0, 6.0)
LOWPERF_NOISE_SD = 2.5
#: Perfusion index during low perfusion (%), uniform. JUDGEMENT.
LOWPERF_PI = (0.1, 0.3)

#: Share of patients with sleep desaturations. JUDGEMENT (issue #12: "in some patients").
SLEEP_DESAT_PATIENT_SHARE = 0.3
#: Sleep hours (local = UTC here), and desaturations per hour asleep. JUDGEMENT.
SLEEP_HOURS = (23.0, 6.0)
SLEEP_DESAT_PER_H = 2.0
#: Depth (points) and duration (s), uniform (issue #12: "8-9 point sleep dips";
#: "minutes"). The pulse rises by SLEEP_DESAT_PULSE (/min). JUDGEMENT.
SLEEP_DESAT_DEPTH = (8.0, 9.0)
SLEEP_DESAT_DUR_S = (60.0, 240.0)
SLEEP_DESAT_PULSE = 6.0

#: Oximeter clock: offset SD (s) and drift SD (s/day). JUDGEMENT.
OX_CLOCK_OFFSET_SD_S = 20.0
OX_CLOCK_DRIFT_SD_S_DAY = 2.0
#: Oximeter rows duplicated, and rows arriving 1-3 s late (out of order). JUDGEMENT.
OX_DUP_SHARE = 0.0005
OX_LATE_SHARE = 0.0005
OX_LATE_S = (1.0, 3.0)
#: Bursts of late oximeter rows (network hiccup): per hour, length (s), delay (s). JUDGEMENT.
OX_BURST_PER_H = 1.0 / 24.0
OX_BURST_LEN_S = (10.0, 120.0)
OX_BURST_DELAY_S = (5.0, 60.0)


def _poisson_times(rng: np.random.Generator, rate_per_s: np.ndarray) -> np.ndarray:
    """Event start indices of an inhomogeneous Poisson process on a 1 s grid."""
    return np.flatnonzero(rng.random(len(rate_per_s)) < rate_per_s)


def _ar1(rng: np.random.Generator, n: int, sd: float, tau_s: float) -> np.ndarray:
    """AR(1) noise with stationary SD ``sd`` and correlation time ``tau_s`` (1 s steps)."""
    from scipy.signal import lfilter  # type: ignore[import-untyped]

    a = math.exp(-1.0 / tau_s)
    x = lfilter([sd * math.sqrt(1.0 - a * a)], [1.0, -a], rng.normal(0.0, 1.0, n))
    return np.asarray(x, dtype=float)


def _asleep(t_s: np.ndarray, start: float) -> np.ndarray:
    hour = ((start + t_s) % 86400.0) / 3600.0
    lo, hi = SLEEP_HOURS
    return (hour >= lo) | (hour < hi)


def _oximeter(
    traj: Trajectory,
    rng: np.random.Generator,
    start: float,
    rows: _Rows,
    events: dict[str, int],
    log: list[tuple[str, float, float, float]],
) -> tuple[np.ndarray, ...]:
    p = traj.params
    dur = float(traj.t[-1])
    ts = np.arange(0.0, dur + OX_PERIOD_S / 2, OX_PERIOD_S)
    n = len(ts)
    true_spo2 = np.interp(ts, traj.t, traj.spo2)
    hr = np.interp(ts, traj.t, traj.hr)
    true_sbp = np.interp(ts, traj.t, traj.sbp)
    asleep = _asleep(ts, start)

    # Sleep desaturations: real (physiological) dips, part of what the probe sees.
    physio = true_spo2.copy()
    if rng.random() < SLEEP_DESAT_PATIENT_SHARE:
        starts = _poisson_times(rng, np.where(asleep, SLEEP_DESAT_PER_H / 3600.0, 0.0))
        for i in starts.tolist():
            d = int(rng.uniform(*SLEEP_DESAT_DUR_S))
            depth = rng.uniform(*SLEEP_DESAT_DEPTH)
            j = min(n, i + d)
            shape = np.sin(np.linspace(0.0, math.pi, j - i)) ** 0.5  # quick fall, plateau
            physio[i:j] -= depth * shape
            hr[i:j] += SLEEP_DESAT_PULSE * shape
            log.append(("sleep_desaturation", float(i), float(j), float(depth)))
        events["sleep_desaturation"] = len(starts)
    else:
        events["sleep_desaturation"] = 0

    spo2 = physio + rng.normal(0.0, OX_BIAS_SD) + _ar1(rng, n, OX_NOISE_SD, OX_NOISE_TAU_S)
    pulse = hr + rng.normal(0.0, PULSE_NOISE_SD, n)
    flag = np.zeros(n, np.int8)
    keep = np.ones(n, bool)
    pi_level = rng.uniform(*PI_RANGE)
    pi_scale = np.clip(true_sbp / p.sbp0, 0.3, 1.5) ** 2
    low_pi = np.zeros(n, bool)

    # Motion dips.
    rate = np.where(asleep, MOTION_PER_H_ASLEEP, MOTION_PER_H_AWAKE) / 3600.0
    m_starts = _poisson_times(rng, rate)
    durs = _lognormal(rng, MOTION_DUR_MEDIAN_S, MOTION_DUR_LOGSD, MOTION_DUR_CLIP_S, len(m_starts))
    flagged_n = steady_n = 0
    for i, d in zip(m_starts.tolist(), durs.tolist(), strict=True):
        j = min(n, i + int(d))
        if j <= i:
            continue
        k = j - i
        depth = rng.uniform(*MOTION_DEPTH)
        fall = min(k, int(rng.integers(1, 4)))  # 1-3 s: faster than any real desaturation
        shape = np.ones(k)
        shape[:fall] = np.arange(1, fall + 1) / fall
        rise = min(k - fall, int(rng.integers(2, 6)))
        if rise > 0:
            shape[k - rise :] = np.linspace(1.0, 0.2, rise)
        spo2[i:j] -= depth * shape + rng.normal(0.0, 1.5, k)
        if rng.random() < MOTION_STEADY_PULSE_SHARE:
            steady_n += 1
        else:
            pulse[i:j] += rng.normal(0.0, MOTION_PULSE_SD, k)
        lag_s = math.nan
        if rng.random() < MOTION_FLAGGED_SHARE:
            flagged_n += 1
            lag = round(rng.uniform(*MOTION_FLAG_LAG_S))
            flag[min(j, i + lag) : min(n, j + int(rng.integers(0, 4)))] = F_ARTIFACT
            lag_s = float(lag)
        log.append(("motion", float(i), float(j), lag_s))
    events["motion"] = len(m_starts)
    events["motion_flagged"] = flagged_n
    events["motion_steady_pulse"] = steady_n

    # Low perfusion.
    lp_rate = LOWPERF_PER_H / 3600.0 * np.where(true_sbp < 90.0, LOWPERF_HYPOTENSION_FACTOR, 1.0)
    lp_starts = _poisson_times(rng, lp_rate)
    lp_durs = _lognormal(rng, LOWPERF_MEDIAN_S, LOWPERF_LOGSD, LOWPERF_CLIP_S, len(lp_starts))
    for i, d in zip(lp_starts.tolist(), lp_durs.tolist(), strict=True):
        j = min(n, i + int(d))
        k = j - i
        u = rng.random(k)
        drop = u < LOWPERF_DROP_SHARE
        flg = (u >= LOWPERF_DROP_SHARE) & (u < LOWPERF_DROP_SHARE + LOWPERF_FLAGGED_SHARE)
        spo2[i:j] -= rng.uniform(*LOWPERF_BIAS) + rng.normal(0.0, LOWPERF_NOISE_SD, k)
        keep[i:j] &= ~drop
        flag[i:j] = np.where(flg, F_LOWPERF, flag[i:j])
        low_pi[i:j] = True
        log.append(("low_perfusion", float(i), float(j), 0.0))
    events["low_perfusion"] = len(lp_starts)

    # Probe off: garbage, then searching (value 0), then a re-attach ramp.
    po_starts = _poisson_times(rng, np.full(n, PROBE_OFF_PER_H / 3600.0))
    offs = _lognormal(rng, PROBE_OFF_MEDIAN_S, PROBE_OFF_LOGSD, PROBE_OFF_CLIP_S, len(po_starts))
    po_ok = 0
    for i, off in zip(po_starts.tolist(), offs.tolist(), strict=True):
        g = int(rng.uniform(*PROBE_GARBAGE_S))
        r = int(rng.uniform(*PROBE_RAMP_S))
        a, b = i, min(n, i + g)
        spo2[a:b] = rng.integers(30, 101, b - a)
        pulse[a:b] = rng.integers(25, 221, b - a)
        flag[a:b] = F_NONE
        keep[a:b] = True
        c = min(n, b + int(off))
        spo2[b:c] = 0.0
        pulse[b:c] = 0.0
        flag[b:c] = F_SEARCHING
        keep[b:c] = True
        if rng.random() < PROBE_SENSOR_OFF_SHARE:
            flag[min(c, b + int(PROBE_SENSOR_OFF_AFTER_S)) : c] = F_SENSOR_OFF
        low_pi[a:c] = True
        e = min(n, c + r)
        if e > c:
            frm = rng.uniform(*PROBE_RAMP_FROM)
            w = np.linspace(0.0, 1.0, e - c)
            spo2[c:e] = frm + (spo2[c:e] - frm) * w
            pulse[c:e] += rng.normal(0.0, 8.0, e - c) * (1.0 - w)
            flag[c:e] = F_NONE
            keep[c:e] = True
        po_ok += 1
        log.append(("probe_off", float(a), float(e), float(b)))
    events["probe_off"] = po_ok

    spo2 = np.clip(np.round(spo2), 0.0, 100.0)
    pulse = np.clip(np.round(pulse), 0.0, 300.0)

    # Clock and arrival.
    off = rng.normal(0.0, OX_CLOCK_OFFSET_SD_S)
    drift = rng.normal(0.0, OX_CLOCK_DRIFT_SD_S_DAY) / 86400.0
    stamp = start + ts + off + drift * ts + 0.001 * rng.integers(0, 1000)
    arrival = ts + 0.05
    late = rng.random(n) < OX_LATE_SHARE
    arrival[late] += rng.uniform(*OX_LATE_S, int(late.sum()))
    b_starts = _poisson_times(rng, np.full(n, OX_BURST_PER_H / 3600.0))
    for i in b_starts.tolist():
        j = min(n, i + int(rng.uniform(*OX_BURST_LEN_S)))
        arrival[i:j] = ts[j - 1] + rng.uniform(*OX_BURST_DELAY_S)
    events["late_burst"] = len(b_starts)
    events["ox_late"] = int(late.sum())
    idx = np.flatnonzero(keep)
    for sig, vals in ((SIG["spo2"], spo2), (SIG["pulse"], pulse)):
        rows.add(arrival[idx], stamp[idx], sig, vals[idx], flag[idx])
    dup = idx[rng.random(len(idx)) < OX_DUP_SHARE]
    events["ox_duplicate"] = len(dup)
    for sig, vals in ((SIG["spo2"], spo2), (SIG["pulse"], pulse)):
        rows.add(
            arrival[dup] + rng.uniform(0.0, 2.0, len(dup)), stamp[dup], sig, vals[dup], flag[dup]
        )

    # Perfusion index every PI_PERIOD_S while the probe is on.
    step = int(PI_PERIOD_S / OX_PERIOD_S)
    pidx = np.arange(0, n, step)
    pidx = pidx[keep[pidx] & ~np.isin(flag[pidx], MONITOR_BLANK)]
    pi = pi_level * pi_scale[pidx] * np.exp(rng.normal(0.0, 0.15, len(pidx)))
    lo = low_pi[pidx]
    pi[lo] = rng.uniform(*LOWPERF_PI, int(lo.sum()))
    rows.add(arrival[pidx], stamp[pidx], SIG["pi"], np.round(pi, 2), np.where(lo, F_LOWPERF, 0))

    shown = ~np.isin(flag[idx], MONITOR_BLANK)
    return stamp[idx], spo2[idx], pulse[idx], shown
