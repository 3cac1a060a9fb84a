"""The bedside-monitor and NEWS2 comparators on hand-made streams."""

from __future__ import annotations

import numpy as np

from edge.lab.evaluation.comparators import (
    _runs_fast,
    _runs_meeting,
    monitor_alarms,
    news2_alerts,
    news2_pulse_points,
    news2_sbp_points,
    news2_spo2_points,
    news2_temp_points,
)
from edge.lab.patient.measurement import ARTIFACT, SEARCHING, SENSOR_OFF, Streams

T0 = 1_767_571_200.0  # 2026-01-05T00:00Z


def streams(spo2, pulse=None, flags=None, nibp=(), gaps=()):
    n = len(spo2)
    t = T0 + np.arange(n, dtype=float)
    keep = np.ones(n, bool)
    for a, b in gaps:
        keep[a:b] = False
    pulse = np.full(n, 80.0) if pulse is None else np.asarray(pulse, float)
    flags = np.zeros(n, np.int8) if flags is None else np.asarray(flags, np.int8)
    nt = np.array([T0 + a for a, _ in nibp], float)
    ns = np.array([b for _, b in nibp], float)
    return Streams(
        start=T0,
        ox_t=t[keep],
        spo2=np.asarray(spo2, float)[keep],
        pulse=pulse[keep],
        ox_flag=flags[keep],
        off_t=np.array([]),
        nibp_t=nt,
        sbp=ns,
        map=ns * 0.75,
        dbp=ns * 0.6,
        wt_t=np.array([]),
        weight=np.array([]),
        wt_flag=np.array([], np.int8),
        doses=np.array([]),
        scale="standing",
        baseline_weight=80.0,
    )


def dip(n, start, length, value=85.0):
    s = np.full(n, 97.0)
    s[start : start + length] = value
    return s


def test_spo2_alarm_needs_15_seconds():
    assert [e.indicator for e in monitor_alarms(streams(dip(200, 50, 15)))] == []
    ev = monitor_alarms(streams(dip(200, 50, 16)))
    assert [(e.indicator, e.time - T0, e.until - T0) for e in ev] == [("spo2", 65.0, 65.0)]
    ev = monitor_alarms(streams(dip(200, 50, 30)))
    assert [(e.indicator, e.time - T0, e.until - T0) for e in ev] == [("spo2", 65.0, 79.0)]


def test_spo2_alarm_ignores_sensor_off_but_not_motion_flags():
    n = 200
    f = np.zeros(n, np.int8)
    f[50:90] = SENSOR_OFF
    assert monitor_alarms(streams(dip(n, 50, 40), flags=f)) == []
    f[50:90] = SEARCHING
    assert monitor_alarms(streams(dip(n, 50, 40), flags=f)) == []
    f[50:90] = ARTIFACT  # a monitor still shows and alarms on motion-artifact values
    assert [e.indicator for e in monitor_alarms(streams(dip(n, 50, 40), flags=f))] == ["spo2"]


def test_a_gap_breaks_the_run():
    s = dip(200, 50, 20)
    assert monitor_alarms(streams(s, gaps=[(60, 65)])) == []


def test_sbp_and_hr_alarms():
    pulse = np.full(100, 80.0)
    pulse[30:33] = 131.0
    pulse[60] = 135.0
    ev = monitor_alarms(streams(np.full(100, 97.0), pulse, nibp=[(10, 95.0), (40, 89.0)]))
    assert [(e.indicator, e.time - T0) for e in ev] == [
        ("hr", 30.0),
        ("sbp", 40.0),
        ("hr", 60.0),
    ]


def test_vectorised_runs_match_the_plain_loop():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 300))
        t = np.cumsum(rng.choice([1.0, 1.0, 1.0, 5.0], n))
        c = rng.random(n) < 0.7
        for delay in (0.0, 3.0, 15.0):
            assert _runs_fast(t, c, delay) == _runs_meeting(t, c, delay)


def test_news2_points_by_the_rcp_table():
    assert [news2_spo2_points(x) for x in (91, 92, 93, 94, 95, 96)] == [3, 2, 2, 1, 1, 0]
    assert [news2_sbp_points(x) for x in (90, 91, 100, 101, 110, 111, 219, 220)] == [
        3, 2, 2, 1, 1, 0, 0, 3,
    ]  # fmt: skip
    assert [news2_pulse_points(x) for x in (40, 41, 50, 51, 90, 91, 110, 111, 130, 131)] == [
        3, 1, 1, 0, 0, 1, 1, 2, 2, 3,
    ]  # fmt: skip
    assert [news2_temp_points(x) for x in (35.0, 35.1, 36.0, 36.1, 38.0, 38.1, 39.0, 39.1)] == [
        3, 1, 1, 0, 0, 1, 1, 2,
    ]  # fmt: skip


def test_news2_scores_at_four_hourly_rounds():
    n = 13 * 3600
    spo2 = np.full(n, 97.0)
    pulse = np.full(n, 80.0)
    pulse[6 * 3600 - 100 : 6 * 3600 + 10] = 115.0  # 2 points at the 06:00 round
    spo2[10 * 3600 - 100 : 10 * 3600 + 10] = 93.0  # 2 points at 10:00
    s = streams(spo2, pulse, nibp=[(int(9.5 * 3600), 100.0)])  # SBP 100: 2 points at 10:00
    ev = news2_alerts(s)
    # 02:00 and 06:00 rounds: below 5, no 3; 10:00: 2 (spo2) + 2 (sbp) = 4: no alert yet
    assert ev == []
    s = streams(spo2, pulse, nibp=[(int(9.5 * 3600), 90.0)])  # SBP 90 scores 3
    ev = news2_alerts(s)
    assert [(e.indicator, (e.time - T0) / 3600) for e in ev] == [("sbp", 10.0)]
    t = np.arange(0, n, 60.0)
    temp = np.full(len(t), 39.5)  # 2 points: with 2 (spo2) + 2 (sbp) = 6 at 10:00
    s = streams(spo2, pulse, nibp=[(int(9.5 * 3600), 100.0)])
    ev = news2_alerts(s, t, temp, rng=np.random.default_rng(0))
    assert [(e.indicator, (e.time - T0) / 3600) for e in ev] == [("aggregate", 10.0)]
