"""Artifact model B (edge/lab/patient/artifacts_b/): determinism, and each artifact kind at
its documented rate over a cohort (generous statistical bounds, fixed seeds)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from edge.lab.patient import artifacts_b as B
from edge.lab.patient import generate
from edge.vocabulary import Reading

SEED = 11
PATIENTS = 24
DAYS = 2.0


@pytest.fixture(scope="module")
def cohort():
    return [generate(None, seed=SEED, index=i, days=DAYS, artifacts="b") for i in range(PATIENTS)]


def _hours(cohort):
    return sum(sc.truth["duration_s"] for sc in cohort) / 3600.0


def _awake_hours(cohort):
    return sum(
        float((~B._asleep(np.arange(0.0, sc.truth["duration_s"], 60.0), sc.streams.start)).sum())
        / 60.0
        for sc in cohort
    )


def test_model_b_is_deterministic_for_a_seed_and_keeps_the_patient():
    a = generate("moderate", seed=4, days=0.5, artifacts="b")
    b = generate("moderate", seed=4, days=0.5, artifacts="b")
    c = generate("moderate", seed=5, days=0.5, artifacts="b")
    ref = generate("moderate", seed=4, days=0.5, artifacts="a")
    assert list(a.streams.rows()) == list(b.streams.rows())
    assert list(a.streams.rows()) != list(c.streams.rows())
    assert a.streams.events == b.streams.events
    # Same patient, physiology and truth as under model A: only the devices differ.
    assert a.truth == ref.truth
    assert np.array_equal(a.trajectory.sbp, ref.trajectory.sbp)


def test_unknown_model_is_an_error_that_names_the_known_ones():
    with pytest.raises(ValueError, match="artifact model 'e'; known: a, b, c, d"):
        generate("none", seed=1, days=0.1, artifacts="e")


@pytest.mark.parametrize("model", ["b", "c", "d"])  # each returns a StreamsB
def test_readings_are_valid_and_match_rows(tmp_path, model):
    sc = generate("severe", seed=2, days=0.3, artifacts=model)
    rows = list(sc.streams.rows())
    items = list(sc.streams.readings(source="x"))
    assert len(rows) == len(items) == sc.streams.count()
    for (t, sig, v, fl), r in zip(rows, items, strict=True):
        if sig == "dose":
            assert r == t
        else:
            assert r == Reading.of(sig, v, time=t, source="x", flags=fl)
    n = sc.export(str(tmp_path / "x.csv"), str(tmp_path / "x.json"))
    assert n == len(rows)
    assert (tmp_path / "x.csv").read_text().startswith("time,signal,value,flags\n")


def test_motion_dips_rate_flag_share_lag_and_steady_pulse(cohort):
    motion = [e for sc in cohort for e in sc.streams.log if e[0] == "motion"]
    expected = B.MOTION_PER_H_AWAKE * _awake_hours(cohort) + B.MOTION_PER_H_ASLEEP * (
        _hours(cohort) - _awake_hours(cohort)
    )
    assert 0.8 * expected < len(motion) < 1.2 * expected
    lags = [e[3] for e in motion if not math.isnan(e[3])]
    assert abs(len(lags) / len(motion) - B.MOTION_FLAGGED_SHARE) < 0.1
    assert min(lags) >= 2.0 and max(lags) <= 8.0
    steady = sum(sc.streams.events["motion_steady_pulse"] for sc in cohort)
    assert abs(steady / len(motion) - B.MOTION_STEADY_PULSE_SHARE) < 0.1


def test_a_flagged_dip_starts_before_its_flag(cohort):
    """The SpO2 already dips, unflagged, in the seconds before the motion flag appears."""
    checked = 0
    for sc in cohort:
        st = sc.streams
        ox = st.sig == B.SIG["spo2"]
        t, first = np.unique(st.time[ox], return_index=True)  # by stamp, duplicates dropped
        val, flg = st.value[ox][first], st.flag[ox][first]
        rate = (t[-1] - t[0]) / sc.truth["duration_s"]  # the oximeter clock's drift
        for kind, a, b, lag in st.log:
            if kind != "motion" or math.isnan(lag) or lag < 3 or b - a < lag + 1:
                continue
            if any(e[1] < a and e[2] > a - 40 for e in st.log):
                continue  # another episode just before: no clean baseline
            i = int(np.searchsorted(t, t[0] + a * rate - 0.5))
            k = int(lag)
            if i < 30 or np.any(np.diff(t[i - 30 : i + k + 1]) > 1.5):
                continue  # a dropout nearby: the index would not be the episode's second
            if (flg[i : i + k] == B.F_NONE).all():
                assert val[i + 1 : i + k].min() < np.median(val[i - 30 : i - 2])
                assert flg[i + k] == B.F_ARTIFACT
                checked += 1
    assert checked >= 10


def test_probe_off_is_garbage_then_searching_then_a_ramp(cohort):
    offs = [e for sc in cohort for e in sc.streams.log if e[0] == "probe_off"]
    expected = B.PROBE_OFF_PER_H * _hours(cohort)
    assert 0.5 * expected < len(offs) < 1.6 * expected
    sc = next(s for s in cohort if any(e[0] == "probe_off" for e in s.streams.log))
    st = sc.streams
    ox = st.sig == B.SIG["spo2"]
    order = np.argsort(st.time[ox], kind="stable")
    flg, val = st.flag[ox][order], st.value[ox][order]
    blank = np.isin(flg, B.MONITOR_BLANK)
    i = int(np.argmax(blank))  # first searching sample
    assert flg[i] == B.F_SEARCHING and val[i] == 0.0
    assert (flg[i - 3 : i] == B.F_NONE).all()  # garbage before, unflagged
    j = i + int(np.argmax(~blank[i:]))  # first sample after
    ramp = val[j : j + 5]
    assert (flg[j : j + 5] == B.F_NONE).all() and ramp[0] <= B.PROBE_RAMP_FROM[1] + 1


def test_low_perfusion_dropouts_and_sleep_desaturations(cohort):
    lp = sum(sc.streams.events["low_perfusion"] for sc in cohort)
    assert lp > 0.5 * B.LOWPERF_PER_H * _hours(cohort)
    flagged = sum(int((sc.streams.flag == B.F_LOWPERF).sum()) for sc in cohort)
    assert flagged > 0
    with_sleep = [sc for sc in cohort if sc.streams.events["sleep_desaturation"]]
    assert 0.1 < len(with_sleep) / len(cohort) < 0.6
    depths = [e[3] for sc in with_sleep for e in sc.streams.log if e[0] == "sleep_desaturation"]
    assert min(depths) >= 8.0 and max(depths) <= 9.0


def test_cuff_outliers_failed_cycles_and_remeasure():
    cohort = [generate("severe", seed=SEED, index=i, days=DAYS, artifacts="b") for i in range(10)]
    ev = Counter()
    for sc in cohort:
        ev.update(sc.streams.events)
    assert 0.02 < ev["cuff_outlier"] / ev["cuff_cycles"] < 0.07
    assert 0.02 < ev["cuff_failed"] / ev["cuff_cycles"] < 0.09
    assert 0.05 < ev["cuff_no_map"] / (ev["cuff_cycles"] - ev["cuff_failed"]) < 0.3
    # A low reading is re-measured within CUFF_REMEASURE_S (plus a minute of clock) mostly.
    low, quick = 0, 0
    for sc in cohort:
        t, sbp = sc.streams.nibp_t, sc.streams.sbp
        for k in range(len(t) - 1):
            if sbp[k] < B.CUFF_LOW_SBP and (k == 0 or t[k] - t[k - 1] > 700):
                low += 1
                quick += t[k + 1] - t[k] <= B.CUFF_REMEASURE_S[1] + 60
    assert low >= 5 and quick / low > 0.6


def test_nibp_parts_have_separate_minute_resolution_stamps_in_any_order(cohort):
    firsts = Counter()
    for sc in cohort[:8]:
        st = sc.streams
        parts = [(t, B.SIGNALS_B[s]) for t, s in zip(st.time, st.sig, strict=True) if 3 <= s <= 5]
        for t, name in parts:
            ms = round((t % 60.0) * 1000)
            assert ms == round(1000 * B.PART_OFFSET_S[name])
        # arrival order of one cycle's parts: which came first
        seen = set()
        for t, name in parts:
            cyc = round(t - B.PART_OFFSET_S[name])
            if cyc not in seen:
                seen.add(cyc)
                firsts[name] += 1
    assert len(firsts) == 3 and min(firsts.values()) > 10


def test_duplicates_out_of_order_and_late_rows(cohort):
    dups = ooo = late_charted = charted = 0
    for sc in cohort[:8]:
        st = sc.streams
        keyed = Counter(zip(st.time.tolist(), st.sig.tolist(), strict=True))
        dups += sum(c - 1 for c in keyed.values())
        ox = st.sig == B.SIG["spo2"]
        ooo += int((np.diff(st.time[ox]) < 0).sum())
        ch = (st.sig >= 3) & (st.sig <= 6)
        charted += int(ch.sum())
        late_charted += int(((st.arrival[ch] - (st.time[ch] - st.start)) > 300).sum())
    assert dups > 10 and ooo > 10
    assert 0.03 < late_charted / charted < 0.2


def test_scale_outliers_reweighing_and_late_doses(cohort):
    ev = Counter()
    for sc in cohort:
        ev.update(sc.streams.events)
        w = sc.streams.weight
        assert len(w) > 0
        assert np.all(np.round((sc.streams.wt_t % 60.0), 3) == 0.0)
    assert ev["weigh_outlier"] > 0 and ev["reweigh"] > 0
    doses = sum(len(sc.truth["doses_given_s"]) for sc in cohort)
    assert 0.4 < ev["dose_late"] / doses < 0.8
    sc = cohort[0]
    st = sc.streams
    d = st.sig == B.DOSE
    assert np.all(np.round(st.time[d] % B.DOSE_CHART_ROUND_S, 3) == 0.0)
