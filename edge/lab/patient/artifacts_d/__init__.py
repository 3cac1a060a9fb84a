"""Artifact model D: a fourth, independent account of what ward devices report (issue #12).

Model D turns a virtual patient's TRUE trajectory (:class:`~edge.lab.patient.model.Trajectory`)
into the rows capleak receives, as a :class:`~edge.lab.patient.artifacts_b.StreamsB` built
with model B's row collector, so the evaluation, the comparators and the plots read it
unchanged. It exists so detection figures can be reported on data nothing was tuned on.

**How it was written.** Read: ``edge/lab/patient/model.py`` (the ``Trajectory``),
``edge/lab/patient/__init__.py`` (``generate``), ``edge/lab/patient/artifacts_b/streams.py``
(``StreamsB``, ``_Rows``), ``edge/vocabulary.py``, ``edge/cli/evaluate.py``, the shared
docs signal-processing.md, clinical.md, protocols.md (and style.md), and model C's tests
(``tests/edge/lab/patient/test_artifacts_c.py``, ``tests/edge/lab/evaluation/test_model_c.py``)
for their shape only. NOT read: model A (``edge/lab/patient/measurement.py``), any other
file of ``artifacts_b/``, anything in ``artifacts_c/``, anything in ``edge/core/``,
``docs/core.md`` and ``docs/evaluation.md``. Model D never looks at the detector.

**What it models** (every rate and size is a named constant next to the code that uses
it, marked with its source or JUDGEMENT; deterministic for the generator it is given):

- :mod:`.oximeter` - 1 Hz SpO2 and pulse, PI every 5 s: calibration offset, correlated
  sensor noise, the patient's averaging time (4-16 s); motion as a dip, either unflagged
  with a steady pulse or flagged ``artifact`` 2-8 s after it starts with the pulse lost;
  probe-off as unflagged garbage, ``searching``, ``sensor_off`` rows (or, on some
  devices, silence), ``searching`` and a re-attach ramp from below; perfusion that falls
  with chills 1-2 h after each dose, with low MAP, in spontaneous episodes and (probe on
  the cuff arm) during every NIBP cycle, flagged ``low_perfusion`` below a PI threshold
  with a low bias and extra noise, and a dropout (``searching``) below a lower one;
  obstructive sleep desaturations in about a third of patients (real physiology, not in
  the truth, logged as ``sleep_desaturation``).
- :mod:`.network` - the monitor's clock (an offset, sometimes one forward correction),
  latency with spikes (rows overtaken: out of order), link stalls after which the
  backlog is flushed late, trickles in behind live rows (late and out of order) or is
  lost, and re-sends of the seconds before a stall (duplicates).
- :mod:`.cuff` - the ward's NIBP schedule from the trajectory with model D's own values:
  a patient bias, over-reading of low and under-reading of high SBP, a shared and own
  per-part error, ~4 % unflagged outliers, failed cycles with a monitor retry, a nurse
  re-measure after SBP < 90 (on the monitor or by hand: no MAP, charted late, time
  rounded to 5 min), parts as separate rows with their own stamps (minute-resolution
  NIBP clocks on some monitors), cycles without MAP, cycles late from nurse validation.
- :mod:`.weight` - the admission weight (weighed dressed, or stated), a standing scale
  charted by hand (morning, sometimes also evening; +-3 kg off weighings and
  re-weighing) or a bed scale (items on the bed, +-3 kg single readings, re-weighing).
- :mod:`.mar` - doses charted with the start or end time of the infusion, to the minute
  or rounded to 5 min, some late.

**Conventions.** Times in ``log`` are true seconds from ``start``; the views (``ox_t``
...) are what the bedside devices showed, stamped by their clocks: they include seconds
that the link later lost (a bedside monitor still shows them) and leave out a silent
device's seconds. ``log`` holds the oximeter episodes ``(kind, start s, end s, detail)``:
``motion`` (detail: flag lag s, NaN if unflagged), ``sleep_desaturation`` (depth, points),
``low_perfusion`` (lowest PI, %; spontaneous and cuff-arm occlusions), ``probe_off`` (end
of the garbage phase, s). Under ``searching``/``sensor_off`` SpO2, pulse and PI are 0. Only
oximeter rows carry flags; a dose row's value is 0.
"""

from __future__ import annotations

import numpy as np

from edge.lab.patient.artifacts_b.streams import (
    DOSE,
    MONITOR_BLANK,
    SIG,
    StreamsB,
    _Rows,
)
from edge.lab.patient.artifacts_d.cuff import measure_nibp
from edge.lab.patient.artifacts_d.mar import chart_doses
from edge.lab.patient.artifacts_d.network import deliver, monitor_clock
from edge.lab.patient.artifacts_d.oximeter import PI_EVERY_S, measure_oximeter
from edge.lab.patient.artifacts_d.weight import admission_weight, measure_weights
from edge.lab.patient.model import Trajectory

__all__ = ["measure_d"]

#: Arrival offsets that keep a second's SpO2, pulse and PI rows in that order, s.
_PULSE_AFTER_S = 1e-4
_PI_AFTER_S = 2e-4


def measure_d(traj: Trajectory, rng: np.random.Generator, start: float) -> StreamsB:
    """What model D's devices and charting report for ``traj`` (epoch ``start``)."""
    events: dict[str, int] = {}
    n = int(traj.t[-1]) + 1
    # one generator per device, so a change in one device's draws leaves the others alone
    clock_rng, nibp_rng, ox_rng, link_rng, weight_rng, mar_rng, row_rng = (
        np.random.default_rng(s) for s in rng.integers(0, 2**63 - 1, 7).tolist()
    )
    clock = monitor_clock(clock_rng, n, events)
    nibp = measure_nibp(traj, nibp_rng, start, clock, events)
    ox = measure_oximeter(traj, ox_rng, start, np.asarray(nibp.ends, dtype=float), events)
    baseline = admission_weight(traj, weight_rng, events)
    weights = measure_weights(traj, weight_rng, start, events)
    doses = chart_doses(traj.doses_given, mar_rng, start, events)

    rows = _Rows()
    sec = np.flatnonzero(ox.shown)
    stamp = start + ox.t[sec] + clock[sec]
    idx, arrival = deliver(ox.t[sec], link_rng, events)
    s = sec[idx]
    st = stamp[idx]
    rows.add(arrival, st, SIG["spo2"], ox.spo2[s], ox.flag[s])
    rows.add(arrival + _PULSE_AFTER_S, st, SIG["pulse"], ox.pulse[s], ox.flag[s])
    pi = s % PI_EVERY_S == 0
    rows.add(arrival[pi] + _PI_AFTER_S, st[pi], SIG["pi"], ox.pi[s][pi], ox.flag[s][pi])

    for c in nibp.cycles:
        jitter = row_rng.uniform(0.0, 1e-3, 3)  # parts charted together come in any order
        for k, (name, v) in enumerate((("sbp", c.sbp), ("map", c.map), ("dbp", c.dbp))):
            if np.isnan(v):
                continue
            rows.add(
                np.asarray([c.arrivals[k] + jitter[k]]),
                np.asarray([c.stamps[k]]),
                SIG[name],
                np.asarray([v]),
                0,
            )
    if weights:
        w = np.asarray(weights, dtype=float)
        rows.add(w[:, 2], w[:, 0], SIG["weight"], w[:, 1], 0)
    if doses:
        d = np.asarray(doses, dtype=float)
        rows.add(d[:, 1], d[:, 0], DOSE, np.zeros(len(d)), 0)
    arrival_all, time_all, sig_all, value_all, flag_all = rows.arrays()

    cyc = sorted(nibp.cycles, key=lambda c: c.stamps[0])
    wts = sorted(weights)
    return StreamsB(
        start=start,
        arrival=arrival_all,
        time=time_all,
        sig=sig_all,
        value=value_all,
        flag=flag_all,
        ox_t=stamp,
        spo2=ox.spo2[sec],
        pulse=ox.pulse[sec],
        monitor_shown=~np.isin(ox.flag[sec], MONITOR_BLANK),
        nibp_t=np.asarray([c.stamps[0] for c in cyc], dtype=float),
        sbp=np.asarray([c.sbp for c in cyc], dtype=float),
        map=np.asarray([c.map for c in cyc], dtype=float),
        dbp=np.asarray([c.dbp for c in cyc], dtype=float),
        wt_t=np.asarray([w[0] for w in wts], dtype=float),
        weight=np.asarray([w[1] for w in wts], dtype=float),
        doses=np.sort(np.asarray([d[0] for d in doses], dtype=float)),
        scale="bed" if traj.params.bed_scale else "standing",
        baseline_weight=baseline,
        events=events,
        log=ox.log,
    )
