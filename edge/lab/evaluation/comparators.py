"""What a ward has today, run on the same device streams as capleak.

(a) :func:`monitor_alarms`: a standard bedside monitor with threshold alarms
    (``shared/docs/signal-processing.md``, "Evaluating a detector on streams";
    clinical.md "Alarm practice"): SBP < 90 on each NIBP cycle, SpO2 < 90 held for
    15 s (Masimo default delay), pulse > 130. A monitor shows no value while the
    oximeter reports sensor off / no sensor / pulse search, so those samples
    neither alarm nor break a run's gap rule; other flagged samples (motion
    artifact, low quality, low perfusion) are displayed and can alarm, as on a
    real monitor.
(b) :func:`news2_alerts`: NEWS2 (Royal College of Physicians 2017, clinical.md)
    scored at 4-hourly observation rounds, alerting at an aggregate >= 5 or a 3 in
    any one parameter. The streams carry SBP, SpO2 and pulse; the nurse also
    takes a temperature (the true temperature +- 0.2 C, from the model) and sees
    whether the patient is on oxygen (2 points, NEWS2).
    Respiratory rate and consciousness are not simulated and score 0, and
    patients breathe air (SpO2 scale 1): a partial NEWS2, which can only
    under-call.

Every alarm is an :class:`AlarmEvent`; all comparator alarms count as high priority.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.lab.patient.artifacts_b import StreamsB
from edge.lab.patient.measurement import FLAG_SETS, MONITOR_SUPPRESSES, Streams


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """An alarm: epoch time it sounds, indicator, the end of its condition, priority."""

    time: float
    indicator: str
    end: float | None = None
    priority: str = "high"

    @property
    def until(self) -> float:
        return self.time if self.end is None else self.end


MONITOR_SBP = 90.0
MONITOR_SPO2 = 90.0
MONITOR_SPO2_DELAY_S = 15.0
MONITOR_HR = 130.0
#: a gap longer than this between oximeter samples breaks a run (GUESS)
MAX_GAP_S = 3.0


def _runs_meeting(t: np.ndarray, cond: np.ndarray, delay_s: float) -> list[tuple[float, float]]:
    """Alarms: for each run of ``cond`` (no sample gap > MAX_GAP_S) lasting at least
    ``delay_s``, (the time it has lasted ``delay_s``, the time of its last sample).

    >>> t = np.arange(40.0)
    >>> c = (t >= 5) & (t < 25)
    >>> _runs_meeting(t, c, 15.0)
    [(20.0, 24.0)]
    >>> _runs_meeting(t, c, 30.0)
    []
    """
    if len(t) == 0:
        return []
    brk = np.concatenate(([True], np.diff(t) > MAX_GAP_S))
    out: list[tuple[float, float]] = []
    run_start: float | None = None
    fired = False
    for ti, ci, bi in zip(t.tolist(), cond.tolist(), brk.tolist(), strict=True):
        if bi or not ci:
            run_start, fired = None, False
        if ci:
            if run_start is None:
                run_start, fired = ti, False
            if fired:
                out[-1] = (out[-1][0], ti)
            elif ti - run_start >= delay_s:
                out.append((ti, ti))
                fired = True
    return out


def _runs_fast(t: np.ndarray, cond: np.ndarray, delay_s: float) -> list[tuple[float, float]]:
    """Same result as :func:`_runs_meeting`, vectorised over runs (the 1 Hz streams are long)."""
    if len(t) == 0 or not cond.any():
        return []
    brk = np.concatenate(([True], np.diff(t) > MAX_GAP_S))
    # A run starts where cond is true and (previous false or a break).
    prev = np.concatenate(([False], cond[:-1]))
    starts = np.flatnonzero(cond & (~prev | brk))
    # A run ends before the next index where cond is false or a break occurs.
    stop_mask = ~cond | brk
    stop_idx = np.flatnonzero(stop_mask)
    out: list[tuple[float, float]] = []
    for s in starts.tolist():
        k = np.searchsorted(stop_idx, s, side="right")
        end = int(stop_idx[k]) if k < len(stop_idx) else len(t)
        # samples s .. end-1 form the run
        target = t[s] + delay_s
        j = s + int(np.searchsorted(t[s:end], target, side="left"))
        if j < end:
            out.append((float(t[j]), float(t[end - 1])))
    return out


def monitor_shown(streams: Streams | StreamsB) -> np.ndarray:
    """Which oximeter samples a monitor displays (not sensor off / no sensor / searching).

    Artifact model B carries this per sample (``monitor_shown``); model A as flag sets.
    """
    if isinstance(streams, StreamsB):
        return streams.monitor_shown
    return np.array(
        [not (FLAG_SETS[i] & MONITOR_SUPPRESSES) for i in range(len(FLAG_SETS))], dtype=bool
    )[streams.ox_flag]


def monitor_alarms(streams: Streams | StreamsB) -> list[AlarmEvent]:
    """Threshold alarms of a standard bedside monitor (module docstring)."""
    events: list[AlarmEvent] = []
    for t, sbp in zip(streams.nibp_t.tolist(), streams.sbp.tolist(), strict=True):
        if sbp < MONITOR_SBP:
            events.append(AlarmEvent(t, "sbp"))
    shown = monitor_shown(streams)
    t = streams.ox_t[shown]
    events += [
        AlarmEvent(x, "spo2", end)
        for x, end in _runs_fast(t, streams.spo2[shown] < MONITOR_SPO2, MONITOR_SPO2_DELAY_S)
    ]
    events += [
        AlarmEvent(x, "hr", end) for x, end in _runs_fast(t, streams.pulse[shown] > MONITOR_HR, 0.0)
    ]
    events.sort(key=lambda e: e.time)
    return events


def news2_spo2_points(spo2: float) -> int:
    """NEWS2 SpO2 scale 1 on air (clinical.md)."""
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


def news2_sbp_points(sbp: float) -> int:
    if sbp <= 90:
        return 3
    if sbp <= 100:
        return 2
    if sbp <= 110:
        return 1
    if sbp <= 219:
        return 0
    return 3


def news2_pulse_points(pulse: float) -> int:
    if pulse <= 40:
        return 3
    if pulse <= 50:
        return 1
    if pulse <= 90:
        return 0
    if pulse <= 110:
        return 1
    if pulse <= 130:
        return 2
    return 3


def news2_temp_points(temp: float) -> int:
    """NEWS2 temperature (RCP 2017: <=35.0: 3; 35.1-36.0: 1; 36.1-38.0: 0; 38.1-39.0: 1;
    >= 39.1: 2)."""
    if temp <= 35.0:
        return 3
    if temp <= 36.0:
        return 1
    if temp <= 38.0:
        return 0
    if temp <= 39.0:
        return 1
    return 2


OBS_INTERVAL_H = 4.0
OBS_WINDOW_S = 30.0  # the nurse reads the oximeter over ~30 s (GUESS)


def news2_rounds(
    streams: Streams | StreamsB,
    true_t: np.ndarray | None = None,
    true_temp: np.ndarray | None = None,
    true_oxygen: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> list[tuple[float, dict[str, int]]]:
    """NEWS2 points per parameter at 4-hourly rounds (02, 06, 10, 14, 18, 22 h UTC):
    ``(epoch time, {parameter: points})``; ``true_t`` is seconds from start."""
    rng = rng or np.random.default_rng(0)
    start = streams.start
    end = start + (float(streams.ox_t[-1] - start) if len(streams.ox_t) else 0.0)
    first = math.ceil((start - 2 * 3600.0) / (OBS_INTERVAL_H * 3600.0)) * OBS_INTERVAL_H * 3600.0
    first += 2 * 3600.0
    shown = monitor_shown(streams)
    ox_t, spo2, pulse = streams.ox_t[shown], streams.spo2[shown], streams.pulse[shown]
    rounds: list[tuple[float, dict[str, int]]] = []
    t_obs = first
    while t_obs <= end:
        points: dict[str, int] = {}
        k = int(np.searchsorted(streams.nibp_t, t_obs, side="right")) - 1
        if k >= 0 and t_obs - streams.nibp_t[k] <= OBS_INTERVAL_H * 3600.0:
            points["sbp"] = news2_sbp_points(float(streams.sbp[k]))
        i0, i1 = np.searchsorted(ox_t, [t_obs - OBS_WINDOW_S, t_obs])
        if i1 > i0:
            points["spo2"] = news2_spo2_points(float(np.median(spo2[i0:i1])))
            points["pulse"] = news2_pulse_points(float(np.median(pulse[i0:i1])))
        if true_t is not None and true_temp is not None:
            temp = float(np.interp(t_obs - start, true_t, true_temp)) + float(rng.normal(0, 0.2))
            points["temp"] = news2_temp_points(round(temp, 1))
        if true_t is not None and true_oxygen is not None:
            j = min(int(np.searchsorted(true_t, t_obs - start)), len(true_oxygen) - 1)
            points["oxygen"] = 2 if true_oxygen[j] else 0
        rounds.append((t_obs, points))
        t_obs += OBS_INTERVAL_H * 3600.0
    return rounds


#: NEWS2 alerts at an aggregate score of this or more, or a 3 in any one parameter.
NEWS2_ALERT_SCORE = 5


def news2_alerts(
    streams: Streams | StreamsB,
    true_t: np.ndarray | None = None,
    true_temp: np.ndarray | None = None,
    true_oxygen: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> list[AlarmEvent]:
    """NEWS2 alerts at the rounds of :func:`news2_rounds`: an aggregate >= 5 or a 3."""
    events: list[AlarmEvent] = []
    for t_obs, points in news2_rounds(streams, true_t, true_temp, true_oxygen, rng):
        total = sum(points.values())
        threes = [k for k, v in points.items() if v >= 3]
        if total >= NEWS2_ALERT_SCORE or threes:
            events.append(AlarmEvent(t_obs, threes[0] if threes else "aggregate"))
    return events
