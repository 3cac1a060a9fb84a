"""Artifact model B: a second, independently written model of what the bedside devices report.

**Written without looking at the first model.** The author of this module did not open
``edge/lab/patient/measurement.py``, the artifact parts of ``edge/lab/patient/model.py``,
nor the core's artifact filters and rules (``edge/core/artifacts.py``, ``edge/core/rules*``).
Only the interfaces were used: the :class:`~edge.lab.patient.model.Trajectory` fields (true
physiology on a 1-minute grid), the public attribute names of the first model's ``Streams``
(so the evaluation, the comparators and the plots can read either), and
``edge/vocabulary.py``. The core was tuned on model A; this model exists to check that
the core's figures are not a property of model A.

:func:`measure_b` turns a patient's TRUE trajectory into the rows the core sees:

Pulse oximeter (1 Hz SpO2 + pulse, perfusion index every 30 s):
  - measurement noise (slow AR(1) wander) and a per-patient probe bias;
  - **motion dips**: SpO2 falls fast (faster than physiology allows) by 4-25 points
    for seconds; most keep a steady pulse; only some are flagged ``artifact``, and the
    flag appears 2-8 s after the dip starts (flag lag);
  - **probe off**: a few seconds of garbage values (unflagged), then ``searching``
    (value 0; some devices later say ``sensor_off``), then a re-attach ramp from a low
    value up to the true one;
  - **low perfusion**: dropouts (no row), ``low_perfusion``-flagged low readings and a
    few unflagged low readings, more often when the true SBP is low;
  - **sleep desaturations**: in some patients, real 8-9 point dips lasting minutes at
    night (physiological, unflagged, not CLS);
  - a few duplicated and out-of-order rows and an occasional burst of late rows.
NIBP (one cycle = sbp, map, dbp):
  - per-patient cuff bias, per-reading error, 4 % unflagged outliers, failed cycles
    (no values) with an automatic retry, a re-measure after a low reading, tighter
    intervals while the pressure is low;
  - the monitor clock has minute resolution and its own offset; the cycle's parts carry
    separate timestamps (``sbp`` at ``.000``, ``map`` at ``.001``, ``dbp`` at ``.002``),
    arrive in any order, and some cycles have no MAP;
  - duplicated and late rows (an HL7/charting feed).
Weight: a standing scale (daily plus some extra weighings) or a bed scale (every 15 min,
with things put on the bed); +-3 kg outliers and a re-weighing after an implausible
value; minute-resolution clock; duplicated and late rows.
Doses: charted late (the row arrives minutes to hours after the dose), the charted time
rounded to 5 minutes.

Every rate and size is a named constant below; each comment cites
``shared/docs/signal-processing.md`` (SP) or ``shared/docs/clinical.md`` (CL), or says
JUDGEMENT (the author's choice, no source). Deterministic for the generator passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edge.lab.patient.model import Trajectory
from edge.vocabulary import UNIT_OF, Reading

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
#: The parts' arrival spread after the cycle (s, uniform), in random order. JUDGEMENT.
PART_ARRIVAL_S = (0.5, 20.0)

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

# --- doses ---------------------------------------------------------------------------------
#: Doses charted late (issue #12): share, lognormal median delay (s), log-SD, clip. JUDGEMENT.
DOSE_LATE_SHARE = 0.6
DOSE_LATE_MEDIAN_S = 1200.0
DOSE_LATE_LOGSD = 0.8
DOSE_LATE_CLIP_S = (120.0, 3 * 3600.0)
#: The charted dose time is rounded to this (s). JUDGEMENT.
DOSE_CHART_ROUND_S = 300.0

# --- row encoding --------------------------------------------------------------------------
SIGNALS_B = ("spo2", "pulse", "pi", "sbp", "map", "dbp", "weight", "dose")
SIG = {name: i for i, name in enumerate(SIGNALS_B)}
DOSE = SIG["dose"]
FLAG_SETS_B: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"artifact"}),
    frozenset({"searching"}),
    frozenset({"sensor_off"}),
    frozenset({"low_perfusion"}),
)
F_NONE, F_ARTIFACT, F_SEARCHING, F_SENSOR_OFF, F_LOWPERF = range(len(FLAG_SETS_B))
#: Flags under which a bedside monitor shows no number (searching, sensor off).
MONITOR_BLANK = (F_SEARCHING, F_SENSOR_OFF)


@dataclass(slots=True)
class StreamsB:
    """All rows of one patient in arrival order, plus per-device views.

    The rows are parallel arrays (``arrival`` in seconds from ``start``; ``time`` the
    stamped epoch time; ``sig`` an index into :data:`SIGNALS_B`; ``flag`` an index into
    :data:`FLAG_SETS_B`). The views (``ox_t``, ``spo2``, ``pulse``, ``monitor_shown``,
    ``nibp_t``, ``sbp``, ``map``, ``dbp``, ``wt_t``, ``weight``, ``doses``) are sorted by
    stamped time, one entry per distinct measurement (no duplicates), for the comparators
    and plots; a cycle without MAP has ``map`` NaN.
    """

    start: float
    arrival: np.ndarray
    time: np.ndarray
    sig: np.ndarray
    value: np.ndarray
    flag: np.ndarray
    ox_t: np.ndarray
    spo2: np.ndarray
    pulse: np.ndarray
    monitor_shown: np.ndarray
    nibp_t: np.ndarray
    sbp: np.ndarray
    map: np.ndarray
    dbp: np.ndarray
    wt_t: np.ndarray
    weight: np.ndarray
    doses: np.ndarray
    scale: str
    baseline_weight: float
    #: how many of each artifact kind were generated (for tests and the report)
    events: dict[str, int]
    #: the oximeter episodes: (kind, start s, end s, detail) with kind ``motion`` (detail:
    #: flag lag in s, NaN if unflagged), ``sleep_desaturation`` (depth), ``low_perfusion``
    #: (0), ``probe_off`` (end of the garbage phase, s); times from ``start``, true clock
    log: list[tuple[str, float, float, float]]

    def count(self) -> int:
        return len(self.arrival)

    def _order(self, by_time: bool) -> np.ndarray:
        if by_time:
            return np.argsort(self.time, kind="stable")
        return np.arange(len(self.time))

    def rows(self) -> Iterator[tuple[float, str, float, frozenset[str]]]:
        """(time, signal, value, flags) in arrival order; signal ``dose`` for doses."""
        for t, s, v, f in zip(
            self.time.tolist(),
            self.sig.tolist(),
            self.value.tolist(),
            self.flag.tolist(),
            strict=True,
        ):
            yield t, SIGNALS_B[s], v, FLAG_SETS_B[f]

    def readings(
        self, source: str = "virtual-patient", by_time: bool = False
    ) -> Iterator[Reading | float]:
        """:class:`Reading` objects in arrival order (or by stamped time); a dose is its
        time (a float). The values are valid by construction (finite, known signal,
        unit and flags; a test checks each equals ``Reading.of``), so the dataclass
        validation is skipped: it would cost more than the core's own work per row."""
        order = self._order(by_time)
        new = object.__new__
        put = object.__setattr__
        units = [UNIT_OF.get(s, "") for s in SIGNALS_B]
        for t, s, v, f in zip(
            self.time[order].tolist(),
            self.sig[order].tolist(),
            self.value[order].tolist(),
            self.flag[order].tolist(),
            strict=True,
        ):
            if s == DOSE:
                yield t
                continue
            r = new(Reading)
            put(r, "time", t)
            put(r, "signal", SIGNALS_B[s])
            put(r, "value", v)
            put(r, "unit", units[s])
            put(r, "source", source)
            put(r, "flags", FLAG_SETS_B[f])
            yield r

    def write_csv(self, path: str) -> int:
        """The replay CSV (``time,signal,value,flags``) in arrival order; returns rows."""
        n = 0
        with open(path, "w", encoding="utf-8") as f:
            f.write("time,signal,value,flags\n")
            for t, s, v, fl in self.rows():
                val = "" if s == "dose" else f"{v:g}"
                f.write(f"{t:.3f},{s},{val},{';'.join(sorted(fl))}\n")
                n += 1
        return n


# --- helpers -------------------------------------------------------------------------------


def _poisson_times(rng: np.random.Generator, rate_per_s: np.ndarray) -> np.ndarray:
    """Event start indices of an inhomogeneous Poisson process on a 1 s grid."""
    return np.flatnonzero(rng.random(len(rate_per_s)) < rate_per_s)


def _lognormal(
    rng: np.random.Generator, median: float, logsd: float, clip: tuple[float, float], n: int
) -> np.ndarray:
    return np.clip(median * np.exp(rng.normal(0.0, logsd, n)), *clip)


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


def _minute_stamp(rng: np.random.Generator, t_abs: np.ndarray) -> np.ndarray:
    """A charting clock: one offset for the device, minute resolution."""
    off = rng.normal(0.0, CHART_CLOCK_OFFSET_SD_S)
    return np.floor((t_abs + off) / 60.0) * 60.0


class _Rows:
    """Collects rows as lists of arrays before one concatenation."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        arrival: np.ndarray,
        time: np.ndarray,
        sig: int | np.ndarray,
        value: np.ndarray,
        flag: int | np.ndarray,
    ) -> None:
        n = len(arrival)
        self.parts.append(
            (
                np.asarray(arrival, float),
                np.asarray(time, float),
                np.broadcast_to(np.asarray(sig, np.int8), (n,)).copy(),
                np.asarray(value, float),
                np.broadcast_to(np.asarray(flag, np.int8), (n,)).copy(),
            )
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        cols = [np.concatenate([p[i] for p in self.parts]) for i in range(5)]
        order = np.argsort(cols[0], kind="stable")
        return tuple(c[order] for c in cols)


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


# --- the model -------------------------------------------------------------------------------


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


def measure_b(traj: Trajectory, rng: np.random.Generator, start: float) -> StreamsB:
    """What the devices report for ``traj`` under artifact model B (module docstring)."""
    rows = _Rows()
    events: dict[str, int] = {}
    log: list[tuple[str, float, float, float]] = []
    ox_t, spo2, pulse, shown = _oximeter(traj, rng, start, rows, events, log)
    nibp_t, sbp, mp, dbp = _nibp(traj, rng, start, rows, events)
    wt_t, weight, scale = _weight(traj, rng, start, rows, events)
    doses = _doses(traj, rng, start, rows, events)
    arrival, time, sig, value, flag = rows.arrays()
    baseline = round(float(traj.weight[0]) + rng.normal(0.0, ADMISSION_WEIGHT_SD_KG), 1)
    return StreamsB(
        start=start,
        arrival=arrival,
        time=time,
        sig=sig,
        value=value,
        flag=flag,
        ox_t=ox_t,
        spo2=spo2,
        pulse=pulse,
        monitor_shown=shown,
        nibp_t=nibp_t,
        sbp=sbp,
        map=mp,
        dbp=dbp,
        wt_t=wt_t,
        weight=weight,
        doses=np.sort(doses),
        scale=scale,
        baseline_weight=baseline,
        events=events,
        log=log,
    )
