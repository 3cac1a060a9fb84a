"""Model C's :func:`measure_c`: every device's rows, in arrival order, as a :class:`StreamsB`."""

from __future__ import annotations

import numpy as np

from edge.lab.patient.artifacts_b.streams import MONITOR_BLANK, SIG, StreamsB, _Rows
from edge.lab.patient.artifacts_c.cuff import cuff
from edge.lab.patient.artifacts_c.oximeter import PI_PERIOD_S, oximeter
from edge.lab.patient.artifacts_c.transport import (
    OX_CLOCK_OFFSET_SD_S,
    DeviceClock,
    deliver_oximeter,
)
from edge.lab.patient.artifacts_c.ward import ward
from edge.lab.patient.model import Trajectory

#: Row order within one oximeter second: SpO2, then pulse, then PI (s).
_AFTER = {"spo2": 0.0, "pulse": 1e-4, "pi": 2e-4}


def measure_c(traj: Trajectory, rng: np.random.Generator, start: float) -> StreamsB:
    """What the devices report for ``traj`` under artifact model C (package docstring).

    Deterministic for the generator's state; each device draws from its own child
    generator, so a change to one device's model leaves the others' draws unchanged.
    """
    seeds = rng.integers(0, 2**63 - 1, 5)
    r_clock, r_ox, r_link, r_cuff, r_ward = (np.random.default_rng(int(s)) for s in seeds)
    clock = DeviceClock.draw(r_clock, start, OX_CLOCK_OFFSET_SD_S)
    ox = oximeter(traj, r_ox, start, clock.offset, clock.drift)
    rows = _Rows()
    idx = np.flatnonzero(ox.keep)
    link = deliver_oximeter(r_link, ox.t[idx])
    with_pi = (ox.stamp[idx] % PI_PERIOD_S) == 0

    def emit(arrival: np.ndarray, sel: np.ndarray, pi_mask: np.ndarray) -> None:
        for name, arr in (("spo2", ox.spo2), ("pulse", ox.pulse)):
            rows.add(arrival + _AFTER[name], ox.stamp[sel], SIG[name], arr[sel], ox.flag[sel])
        p = sel[pi_mask]
        rows.add(arrival[pi_mask] + _AFTER["pi"], ox.stamp[p], SIG["pi"], ox.pi[p], ox.flag[p])

    emit(link.arrival, idx, with_pi)
    dup = idx[link.dup_index]
    emit(link.dup_arrival, dup, with_pi[link.dup_index])

    cv = cuff(traj, r_cuff, start, rows)
    wv = ward(traj, r_ward, start, rows)
    arrival, time, sig, value, flag = rows.arrays()

    def sorted_view(t: list[float], *vals: list[float]) -> tuple[np.ndarray, ...]:
        order = np.argsort(np.asarray(t, float), kind="stable")
        return (np.asarray(t, float)[order], *(np.asarray(v, float)[order] for v in vals))

    nibp_t, sbp, map_, dbp = sorted_view(cv.t, cv.sbp, cv.map, cv.dbp)
    wt_t, weight = sorted_view(wv.wt_t, wv.weight)
    (doses,) = sorted_view(wv.doses)
    events = {**ox.events, **link.events, **cv.events, **wv.events}
    return StreamsB(
        start=start,
        arrival=arrival,
        time=time,
        sig=sig,
        value=value,
        flag=flag,
        ox_t=ox.stamp[idx].astype(float),
        spo2=ox.spo2[idx],
        pulse=ox.pulse[idx],
        monitor_shown=~np.isin(ox.flag[idx], MONITOR_BLANK),
        nibp_t=nibp_t,
        sbp=sbp,
        map=map_,
        dbp=dbp,
        wt_t=wt_t,
        weight=weight,
        doses=doses,
        scale=wv.scale,
        baseline_weight=wv.baseline_weight,
        events=events,
        log=ox.log,
    )
