"""What the bedside devices report about a virtual patient's true physiology.

The imperfections follow ``shared/docs/signal-processing.md`` ("The data",
"SpO2 artifact rules") and ``shared/docs/protocols.md`` (what each device says
when it has no value). Rates, durations and sizes are GUESSES unless noted:

- **NIBP** (ward schedule and failed cycles decided in :mod:`edge.lab.patient.model`):
  sys/mean/dia rounded to whole mmHg, a per-patient bias of +-3 and an error of
  sd 4 mmHg (about the +-5 mmHg of the data description), 5 % failed cycles
  (no reading), 3 % gross motion errors, unflagged.
- **SpO2 and pulse at 1 Hz**: SpO2 noise sd 0.6 and integer rounding, pulse noise
  sd 1.5/min. Motion artifacts 4-12 per day (more during rigors 1-2 h after a
  dose, clinical.md): SpO2 dips of 2-20 points and erratic pulse for seconds to
  minutes, 60 % flagged by the device (artifact / low quality / pulse search /
  low perfusion), 40 % not. Sensor-off 1-3 per day for minutes: no SpO2/pulse
  values (dashes, as Masimo and Nonin report them) while the oximeter reports
  ``pi`` 0 flagged ``sensor_off``; a loosening probe first gives 5-20 s of
  unflagged low values. One probe change a day: a short sensor-off and a new
  probe bias (sd 1 point).
- **Weight**: a standing scale (admission, 06:00 daily, 18:00 on half of the
  days; clothing +0-0.8 kg; one or two ``unstable`` readings before the stable
  one) or, for 30 % of patients, a bed scale every minute with steps when things
  are put on or taken off the bed (2-6 per day, reversing after minutes to
  hours, 40 % flagged unstable at first), the patient out of bed about once a
  day, and rare small permanent steps (linen change).
- **Clock jitter**: the oximeter's clock is off by up to +-2 s with 80 ms jitter;
  NIBP and scale times jitter by 2 s. Streams are merged by arrival, so readings
  from different devices can arrive slightly out of time order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edge.lab.patient.model import Trajectory
from edge.vocabulary import UNIT_OF, Reading

#: Flag sets by index, for the compact per-sample flag arrays.
FLAG_SETS: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"artifact"}),
    frozenset({"low_quality"}),
    frozenset({"searching"}),
    frozenset({"low_perfusion"}),
    frozenset({"sensor_off"}),
    frozenset({"unstable"}),
)
NO_FLAGS, ARTIFACT, LOW_QUALITY, SEARCHING, LOW_PERFUSION, SENSOR_OFF, UNSTABLE = range(7)
#: Flags a bedside monitor treats as "no value" (it does not alarm on them).
MONITOR_SUPPRESSES = frozenset({"sensor_off", "no_sensor", "searching"})


@dataclass(slots=True)
class Streams:
    """All device output for one patient, as arrays (times in epoch seconds)."""

    start: float
    # 1 Hz oximeter: present samples only
    ox_t: np.ndarray
    spo2: np.ndarray
    pulse: np.ndarray
    ox_flag: np.ndarray  # index into FLAG_SETS
    # sensor-off reports (pi = 0, sensor_off)
    off_t: np.ndarray
    # NIBP
    nibp_t: np.ndarray
    sbp: np.ndarray
    map: np.ndarray
    dbp: np.ndarray
    # weight
    wt_t: np.ndarray
    weight: np.ndarray
    wt_flag: np.ndarray
    doses: np.ndarray
    scale: str  # "standing" or "bed"
    baseline_weight: float  # the admission weighing a nurse would enter

    def count(self) -> int:
        return (
            2 * len(self.ox_t)
            + len(self.off_t)
            + 3 * len(self.nibp_t)
            + len(self.wt_t)
            + len(self.doses)
        )

    def rows(self) -> Iterator[tuple[float, str, float, frozenset[str]]]:
        """Every row in arrival order: (time, signal, value, flags); signal ``dose`` for doses.

        Arrival order is the nominal (true) time; the stamped time carries each
        device's clock error, so streams interleave slightly out of time order.
        """
        kinds, idx = self._order()
        ox_t, spo2, pulse, oxf = (
            self.ox_t.tolist(),
            self.spo2.tolist(),
            self.pulse.tolist(),
            self.ox_flag.tolist(),
        )
        off_t = self.off_t.tolist()
        nt, ns, nm, nd = (
            self.nibp_t.tolist(),
            self.sbp.tolist(),
            self.map.tolist(),
            self.dbp.tolist(),
        )
        wt, wv, wf = self.wt_t.tolist(), self.weight.tolist(), self.wt_flag.tolist()
        doses = self.doses.tolist()
        sensor_off = FLAG_SETS[SENSOR_OFF]
        for k, i in zip(kinds, idx, strict=True):
            if k == 0:
                f = FLAG_SETS[oxf[i]]
                yield ox_t[i], "spo2", spo2[i], f
                yield ox_t[i], "pulse", pulse[i], f
            elif k == 1:
                yield off_t[i], "pi", 0.0, sensor_off
            elif k == 2:
                yield nt[i], "sbp", ns[i], FLAG_SETS[0]
                yield nt[i], "map", nm[i], FLAG_SETS[0]
                yield nt[i], "dbp", nd[i], FLAG_SETS[0]
            elif k == 3:
                yield wt[i], "weight", wv[i], FLAG_SETS[wf[i]]
            else:
                yield doses[i], "dose", 0.0, FLAG_SETS[0]

    def _order(self, by_time: bool = False) -> tuple[list[int], list[int]]:
        """Stream kind and index of every event, in arrival order (one stable argsort),
        or strictly by the stamped time with ``by_time``."""
        parts = [self.ox_t, self.off_t, self.nibp_t, self.wt_t, self.doses]
        arrival = np.concatenate([t if by_time else np.round(t) for t in parts])
        kind = np.concatenate([np.full(len(t), k, dtype=np.int8) for k, t in enumerate(parts)])
        index = np.concatenate([np.arange(len(t)) for t in parts])
        order = np.argsort(arrival, kind="stable")
        return kind[order].tolist(), index[order].tolist()

    def readings(
        self, source: str = "virtual-patient", by_time: bool = False
    ) -> Iterator[Reading | float]:
        """:class:`Reading` objects in arrival order; a dose is yielded as its time (a float).

        Same order and content as :meth:`rows`. The values were generated here and
        are valid by construction (units from the vocabulary, finite values, known
        flags; ``tests/edge/patient`` checks that each equals ``Reading.of(...)``),
        so they are built without re-running the validation: at ~860k readings per
        5-day stay that halves the cost of a replay. ``by_time`` orders by the
        stamped time instead (for players that need time order).
        """
        new = object.__new__
        # the slot setters themselves: a third cheaper than object.__setattr__ by name
        set_t, set_s, set_v, set_u, set_src, set_f = (
            vars(Reading)[name].__set__
            for name in ("time", "signal", "value", "unit", "source", "flags")
        )
        kinds, idx = self._order(by_time)
        ox_t, spo2, pulse, oxf = (
            self.ox_t.tolist(),
            self.spo2.tolist(),
            self.pulse.tolist(),
            self.ox_flag.tolist(),
        )
        off_t = self.off_t.tolist()
        nibp = (self.nibp_t.tolist(), self.sbp.tolist(), self.map.tolist(), self.dbp.tolist())
        wt, wv, wf = self.wt_t.tolist(), self.weight.tolist(), self.wt_flag.tolist()
        doses = self.doses.tolist()

        def make(t: float, signal: str, value: float, flags: frozenset[str]) -> Reading:
            r = new(Reading)
            set_t(r, t)
            set_s(r, signal)
            set_v(r, value)
            set_u(r, UNIT_OF[signal])
            set_src(r, source)
            set_f(r, flags)
            return r

        u_spo2, u_pulse = UNIT_OF["spo2"], UNIT_OF["pulse"]
        for k, i in zip(kinds, idx, strict=True):
            if k == 0:  # the 1 Hz oximeter pair, nearly every row: built inline
                t, f = ox_t[i], FLAG_SETS[oxf[i]]
                r = new(Reading)
                set_t(r, t)
                set_s(r, "spo2")
                set_v(r, spo2[i])
                set_u(r, u_spo2)
                set_src(r, source)
                set_f(r, f)
                yield r
                r = new(Reading)
                set_t(r, t)
                set_s(r, "pulse")
                set_v(r, pulse[i])
                set_u(r, u_pulse)
                set_src(r, source)
                set_f(r, f)
                yield r
            elif k == 1:
                yield make(off_t[i], "pi", 0.0, FLAG_SETS[SENSOR_OFF])
            elif k == 2:
                t = nibp[0][i]
                yield make(t, "sbp", nibp[1][i], FLAG_SETS[0])
                yield make(t, "map", nibp[2][i], FLAG_SETS[0])
                yield make(t, "dbp", nibp[3][i], FLAG_SETS[0])
            elif k == 3:
                yield make(wt[i], "weight", wv[i], FLAG_SETS[wf[i]])
            else:
                yield doses[i]

    def write_csv(self, path: str) -> int:
        """Write the replay CSV (``time,signal,value,flags``); returns the row count."""
        n = 0
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("time,signal,value,flags\n")
            for t, signal, value, flags in self.rows():
                f.write(f"{t:.3f},{signal},{value:g},{';'.join(sorted(flags))}\n")
                n += 1
        return n


def _events(
    rng: np.random.Generator,
    rate_per_day: float,
    days: float,
    median_s: float,
    lo: float,
    hi: float,
) -> list[tuple[int, int]]:
    """Poisson events with log-normal durations: (start second, duration s)."""
    count = rng.poisson(rate_per_day * days)
    starts = rng.uniform(0.0, days * 86400.0, count)
    durs = np.clip(rng.lognormal(math.log(median_s), 1.0, count), lo, hi)
    return [(int(s), int(d)) for s, d in zip(starts, durs, strict=True)]


def measure(traj: Trajectory, rng: np.random.Generator, start: float) -> Streams:
    """Turn the true trajectory into device output (see the module docstring)."""
    p = traj.params
    total_s = int(traj.t[-1])
    days = total_s / 86400.0
    sec = np.arange(total_s, dtype=float)
    true_spo2 = np.interp(sec, traj.t, traj.spo2)
    true_hr = np.interp(sec, traj.t, traj.hr)

    # --- oximeter ---------------------------------------------------------------------
    bias = np.zeros(total_s)
    present = np.ones(total_s, dtype=bool)
    flag = np.zeros(total_s, dtype=np.int8)
    spo2 = true_spo2 + rng.normal(0.0, 0.6, total_s)
    pulse = true_hr + rng.normal(0.0, 1.5, total_s)
    probe_bias = float(rng.normal(0.0, 1.0))
    b = 0
    for s, d in sorted(_events(rng, 1.0, days, 120.0, 60.0, 300.0)):  # probe changes
        bias[b:s] = probe_bias
        present[s : s + d] = False
        probe_bias = float(rng.normal(0.0, 1.0))
        b = s + d
    bias[b:] = probe_bias
    spo2 += bias
    motion = _events(rng, float(rng.uniform(4.0, 12.0)), days, 20.0, 3.0, 600.0)
    for dose_t in traj.doses_given:  # rigors 1-2 h after a dose (clinical.md)
        if rng.random() < 0.5:
            for _ in range(int(rng.integers(2, 6))):
                s = int(dose_t + rng.uniform(3600.0, 7200.0))
                motion.append((s, int(np.clip(rng.lognormal(math.log(30.0), 0.8), 3, 400))))
    for s, d in motion:
        e = min(s + d, total_s)
        if s >= total_s:
            continue
        n = e - s
        depth = float(rng.uniform(2.0, 20.0))
        shape = np.sin(np.linspace(0.0, math.pi, n)) if n > 1 else np.ones(n)
        spo2[s:e] -= depth * shape + rng.normal(0.0, 1.5, n)
        pulse[s:e] += rng.normal(0.0, 15.0, n) + float(rng.uniform(-10.0, 30.0))
        if rng.random() < 0.6:
            flag[s:e] = int(rng.choice([ARTIFACT, LOW_QUALITY, SEARCHING, LOW_PERFUSION]))
    off = np.zeros(total_s, dtype=bool)
    for s, d in _events(rng, float(rng.uniform(1.0, 3.0)), days, 180.0, 20.0, 2700.0):
        if rng.random() < 0.5:  # loosening probe: unflagged garbage before the flag
            g = int(rng.integers(5, 21))
            lo_ = max(s - g, 0)
            spo2[lo_:s] = rng.uniform(60.0, 88.0, s - lo_)
            pulse[lo_:s] = rng.uniform(40.0, 160.0, s - lo_)
        off[s : s + d] = True
    present &= ~off
    for lo_, hi_ in _runs(~present & ~off):  # probe change gaps report sensor_off as well
        off[lo_:hi_] = True
    spo2 = np.clip(np.round(spo2), 0.0, 100.0)
    pulse = np.clip(np.round(pulse), 20.0, 250.0)
    clock = float(rng.uniform(-2.0, 2.0))
    ox_t = start + sec + clock + rng.normal(0.0, 0.08, total_s)
    off_idx = np.flatnonzero(off)

    # --- NIBP -------------------------------------------------------------------------
    ok = [m for m in traj.nibp if m[4] != "failed"]
    nt = np.array([m[0] for m in ok]) + start + rng.normal(0.0, 2.0, len(ok))
    ns = np.round(np.array([m[1] for m in ok]))
    nm = np.round(np.array([m[2] for m in ok]))
    nd = np.round(np.array([m[3] for m in ok]))
    ns, nm, nd = np.clip(ns, 30, 250), np.clip(nm, 20, 220), np.clip(nd, 10, 200)

    # --- weight -----------------------------------------------------------------------
    true_w = lambda t: float(np.interp(t, traj.t, traj.weight))  # noqa: E731
    wt: list[float] = []
    wv: list[float] = []
    wf: list[int] = []
    admission = float(rng.uniform(1800.0, 7200.0))
    baseline_weight = round(true_w(admission) + rng.uniform(0.0, 0.8) + rng.normal(0.0, 0.2), 1)
    if not p.bed_scale:
        times = [admission]
        day0 = math.floor(start / 86400.0) * 86400.0
        for day in range(int(days) + 2):
            for hour, prob in ((6.0, 1.0), (18.0, 0.5)):
                t = day0 + day * 86400.0 + hour * 3600.0 + rng.normal(0.0, 1800.0) - start
                if admission + 3600.0 < t < total_s and rng.random() < prob:
                    times.append(t)
        for t in sorted(times):
            clothes = float(rng.uniform(0.0, 0.8))
            for k in range(int(rng.integers(1, 3))):
                wt.append(t - 10.0 + 5.0 * k)
                wv.append(true_w(t) + clothes + float(rng.uniform(-3.0, 3.0)))
                wf.append(UNSTABLE)
            wt.append(t)
            wv.append(true_w(t) + clothes + float(rng.normal(0.0, 0.2)))
            wf.append(NO_FLAGS)
        wt_a = np.array(wt)
        wv_a = np.round(np.array(wv), 1)
        wf_a = np.array(wf, dtype=np.int8)
    else:
        grid = np.arange(admission, float(total_s), 60.0)
        w = np.interp(grid, traj.t, traj.weight) + rng.normal(0.0, 0.1, len(grid))
        wf_a = np.zeros(len(grid), dtype=np.int8)
        for s, d in _events(rng, float(rng.uniform(2.0, 6.0)), days, 1200.0, 120.0, 14400.0):
            i0, i1 = np.searchsorted(grid, [s, s + d])
            step = rng.uniform(1.0, 12.0) if rng.random() < 0.7 else -rng.uniform(0.5, 3.0)
            w[i0:i1] += step
            if rng.random() < 0.4:
                wf_a[i0 : min(i0 + int(rng.integers(1, 3)), i1)] = UNSTABLE
        for s, d in _events(rng, 1.0, days, 900.0, 300.0, 3600.0):  # out of bed
            i0, i1 = np.searchsorted(grid, [s, s + d])
            w[i0:i1] = rng.uniform(0.0, 5.0, i1 - i0)
        for s, _ in _events(rng, 0.3, days, 1.0, 1.0, 1.0):  # linen change: a lasting step
            w[np.searchsorted(grid, s) :] += rng.uniform(-0.5, 0.5)
        wt_a = grid
        wv_a = np.round(np.clip(w, 0.0, None), 1)
    wt_a = wt_a + start + rng.normal(0.0, 2.0, len(wt_a))

    return Streams(
        start=start,
        ox_t=ox_t[present],
        spo2=spo2[present],
        pulse=pulse[present],
        ox_flag=flag[present],
        off_t=(start + sec[off_idx] + clock),
        nibp_t=nt,
        sbp=ns,
        map=nm,
        dbp=nd,
        wt_t=wt_a,
        weight=wv_a,
        wt_flag=wf_a,
        doses=np.array(traj.doses_given, dtype=float) + start,
        scale="bed" if p.bed_scale else "standing",
        baseline_weight=baseline_weight,
    )


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs in ``mask``."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))
