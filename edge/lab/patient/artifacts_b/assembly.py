"""Artifact model B, the assembly: :func:`measure_b` runs each device in a fixed order
(the draws from the generator depend on it) and builds :class:`StreamsB`."""

from __future__ import annotations

import numpy as np

from edge.lab.patient.artifacts_b.charting import _doses
from edge.lab.patient.artifacts_b.nibp import _nibp
from edge.lab.patient.artifacts_b.oximeter import _oximeter
from edge.lab.patient.artifacts_b.scale import ADMISSION_WEIGHT_SD_KG, _weight
from edge.lab.patient.artifacts_b.streams import StreamsB, _Rows
from edge.lab.patient.model import Trajectory


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
