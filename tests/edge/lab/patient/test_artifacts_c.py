"""Artifact model C (edge/lab/patient/artifacts_c/): determinism, well-formed rows, each
artifact kind present and counted in ``events``, at its documented rate over a small cohort
(generous bounds, fixed seeds)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from edge.lab.patient import generate
from edge.lab.patient.artifacts_b import streams as S
from edge.lab.patient.artifacts_c import cuff as C
from edge.lab.patient.artifacts_c import oximeter as O
from edge.lab.patient.artifacts_c import ward as W
from tests.edge.lab.patient.feed import feed_disorder

SEED = 13
PATIENTS = 12
DAYS = 1.5


@pytest.fixture(scope="module")
def cohort():
    return [generate(None, seed=SEED, index=i, days=DAYS, artifacts="c") for i in range(PATIENTS)]


def _hours(cohort, asleep: bool | None = None):
    total = 0.0
    for sc in cohort:
        t = np.arange(0.0, sc.truth["duration_s"], 60.0)
        if asleep is None:
            total += len(t) / 60.0
        else:
            total += float((O.asleep(sc.streams.start + t) == asleep).sum()) / 60.0
    return total


def _ox(st, sig="spo2"):
    """One oximeter signal by stamp, duplicates dropped: (stamps, values, flags)."""
    m = st.sig == S.SIG[sig]
    t, first = np.unique(st.time[m], return_index=True)
    return t, st.value[m][first], st.flag[m][first]


def test_model_c_is_deterministic_for_a_seed_and_keeps_the_patient():
    a = generate("moderate", seed=4, days=0.4, artifacts="c")
    b = generate("moderate", seed=4, days=0.4, artifacts="c")
    c = generate("moderate", seed=5, days=0.4, artifacts="c")
    ref = generate("moderate", seed=4, days=0.4, artifacts="a")
    other = generate("moderate", seed=4, days=0.4, artifacts="b")
    assert list(a.streams.rows()) == list(b.streams.rows())
    assert a.streams.events == b.streams.events and a.streams.log == b.streams.log
    assert list(a.streams.rows()) != list(c.streams.rows())
    # Same patient, physiology and truth as under A and B: only the devices differ.
    assert a.truth == ref.truth == other.truth
    assert np.array_equal(a.trajectory.sbp, ref.trajectory.sbp)
    assert list(a.streams.rows()) != list(other.streams.rows())


# the unknown-model error and readings()/export() of the StreamsB container: in
# test_artifacts_b.py, for B, C and D


def test_rows_are_well_formed(cohort):
    for sc in cohort[:4]:
        st = sc.streams
        assert np.all(np.diff(st.arrival) >= 0)  # arrival order
        assert np.all(np.isfinite(st.value)) and np.all(np.isfinite(st.time))
        ox = np.isin(st.sig, [S.SIG["spo2"], S.SIG["pulse"], S.SIG["pi"]])
        assert np.all(st.flag[~ox] == S.F_NONE)  # only the oximeter flags its rows
        spo2 = st.sig == S.SIG["spo2"]
        assert st.value[spo2].min() >= 0 and st.value[spo2].max() <= 100
        blank = np.isin(st.flag, S.MONITOR_BLANK) & spo2
        assert np.all(st.value[blank] == 0.0)
        # the views: one entry per distinct measurement, sorted by stamp
        assert len(np.unique(st.ox_t)) == len(st.ox_t) and np.all(np.diff(st.ox_t) > 0)
        assert np.array_equal(st.monitor_shown, ~np.isin(_ox(st)[2], S.MONITOR_BLANK))
        ok = ~np.isnan(st.map)
        assert np.all(st.dbp < st.sbp) and np.all(st.map[ok] > st.dbp[ok])
        assert np.all(st.map[ok] < st.sbp[ok])
        assert len(st.doses) == len(sc.truth["doses_given_s"])
        assert len(st.weight) > 0 and 40 < st.baseline_weight < 140


def test_every_artifact_kind_is_present_and_counted(cohort):
    ev = Counter()
    for sc in cohort:
        ev.update(sc.streams.events)
        logged = Counter(e[0] for e in sc.streams.log)
        for kind in ("motion", "probe_off", "low_perfusion", "desaturation", "rigor"):
            assert logged[kind] == sc.streams.events[kind], kind
    for kind in (
        "motion",
        "motion_flagged",
        "motion_pulse_locked",
        "probe_off",
        "probe_silent_device",
        "low_perfusion",
        "low_perfusion_flagged_s",
        "desaturation",
        "rigor",
        "ox_resend_batches",
        "ox_duplicated_samples",
        "ox_swaps",
        "cuff_failed",
        "cuff_retry",
        "cuff_outlier",
        "cuff_remeasure",
        "cuff_no_map",
        "cuff_split_stamps",
        "dose_late",
        "dose_scheduled_time",
    ):
        assert ev[kind] > 0, kind
    assert ev["bed_item"] + ev["weigh_outlier"] + ev["reweigh"] > 0


def test_motion_rate_flag_share_and_a_dip_before_its_flag(cohort):
    motion = [e for sc in cohort for e in sc.streams.log if e[0] == "motion"]
    awake, asleep = _hours(cohort, False), _hours(cohort, True)
    base = O.MOTION_PER_H_AWAKE * awake + O.MOTION_PER_H_ASLEEP * asleep
    rigor_h = sum(
        (e[2] - e[1]) / 3600.0 for sc in cohort for e in sc.streams.log if e[0] == "rigor"
    )
    assert 0.7 * base < len(motion) < 1.3 * base + O.RIGOR_MOTION_PER_H * rigor_h
    lags = [e[3] for e in motion if not math.isnan(e[3])]
    assert abs(len(lags) / len(motion) - O.MOTION_FLAGGED_SHARE) < 0.1
    assert min(lags) >= O.MOTION_FLAG_LAG_S[0] and max(lags) <= O.MOTION_FLAG_LAG_S[1]
    # A long, strongly flagged dip: the reading already falls, unflagged, before the flag.
    checked = 0
    for sc in cohort:
        st = sc.streams
        t, val, flg = _ox(st)
        rate = (t[-1] - t[0]) / sc.truth["duration_s"]  # the oximeter clock's drift
        for kind, a, b, lag in st.log:
            if kind != "motion" or math.isnan(lag) or lag < 4 or b - a < 15:
                continue
            i = int(np.searchsorted(t, t[0] + a * rate - 0.5))
            if i < 30 or np.any(np.diff(t[i - 30 : i + 10]) != 1.0):
                continue
            if (flg[i - 30 : i + int(lag)] != S.F_NONE).any():
                continue
            base_v = np.median(val[i - 30 : i - 2])
            if base_v - val[i : i + int(lag)].min() >= 1.0:
                checked += 1
    assert checked >= 5


def test_probe_off_is_garbage_then_searching_then_off_then_reacquire(cohort):
    offs = [e for sc in cohort for e in sc.streams.log if e[0] == "probe_off"]
    expected = O.PROBE_OFF_PER_H_AWAKE * _hours(cohort, False) + O.PROBE_OFF_PER_H_ASLEEP * _hours(
        cohort, True
    )
    assert 0.5 * expected < len(offs) < 1.5 * expected
    kinds = set()
    for sc in cohort:
        st = sc.streams
        t, val, flg = _ox(st)
        blank = np.isin(flg, S.MONITOR_BLANK)
        if not blank.any():
            continue
        i = int(np.argmax(blank))
        assert flg[i] == S.F_SEARCHING and val[i] == 0.0
        assert (flg[i - 2 : i] != S.F_SEARCHING).all()
        j = i + int(np.argmax(~blank[i:]))  # first value again
        assert flg[j - 1] == S.F_SEARCHING  # re-acquiring before values come back
        off = flg[i:j] == S.F_SENSOR_OFF
        gap = np.diff(t[i:j]).max() if j - i > 1 else 1.0
        kinds.add("rows" if off.any() else "silent" if gap > 1.5 else "short")
    assert {"rows", "silent"} <= kinds


def test_low_perfusion_flags_follow_the_perfusion_index(cohort):
    flagged = 0
    for sc in cohort:
        st = sc.streams
        pi = st.sig == S.SIG["pi"]
        low = pi & (st.flag == S.F_LOWPERF)
        assert np.all(st.value[low] < O.LOWPERF_PI_FLAG)
        ok = pi & (st.flag == S.F_NONE)
        assert np.all(st.value[ok] >= O.LOWPERF_PI_FLAG)
        flagged += int(low.sum())
    assert flagged > 0
    assert sum(sc.streams.events["low_perfusion"] for sc in cohort) > 0.5 * (
        O.LOWPERF_PER_H * _hours(cohort)
    )


def test_nocturnal_desaturations_are_asleep_unflagged_and_not_in_the_truth(cohort):
    with_desat = [sc for sc in cohort if sc.streams.events["desat_patient"]]
    assert with_desat
    for sc in with_desat:
        for kind, a, _b, depth in sc.streams.log:
            if kind == "desaturation":
                assert O.asleep(np.array([sc.streams.start + a]))[0]
                assert O.DESAT_DEPTH[0] <= depth <= O.DESAT_DEPTH[1]
        # the truth never sees them: it comes from the trajectory alone
        ref = generate(None, seed=SEED, index=sc.index, days=DAYS, artifacts="a")
        assert ref.truth == sc.truth


def test_cuff_failures_retries_outliers_remeasures_and_parts():
    cohort = [generate("severe", seed=SEED, index=i, days=DAYS, artifacts="c") for i in range(8)]
    ev = Counter()
    split = 0
    for sc in cohort:
        ev.update(sc.streams.events)
        st = sc.streams
        parts = np.isin(st.sig, [S.SIG["sbp"], S.SIG["map"], S.SIG["dbp"]])
        stamps = Counter(zip(st.time[parts].tolist(), st.sig[parts].tolist(), strict=True))
        split += sum(
            1 for (tt, s) in stamps if s == S.SIG["dbp"] and (tt, S.SIG["sbp"]) not in stamps
        )
    cyc = ev["cuff_cycles"]
    assert 0.02 < ev["cuff_failed"] / cyc < 0.2
    assert 0.5 < ev["cuff_retry"] / ev["cuff_failed"] <= 1.0
    assert 0.005 < ev["cuff_outlier"] / cyc < 0.07
    assert ev["cuff_remeasure"] > 0 and ev["cuff_manual"] > 0
    assert ev["cuff_no_map"] > 0 and split > 0 and ev["cuff_split_stamps"] >= split


def test_duplicates_out_of_order_and_late_rows(cohort):
    dups, ooo, late, charted = feed_disorder(cohort)
    assert dups > 10 and ooo > 10 and late > 0
    assert late / charted < 0.5


def test_weight_scales_and_doses(cohort):
    scales = {sc.streams.scale for sc in cohort}
    assert scales == {"standing", "bed"}
    for sc in cohort:
        st = sc.streams
        if st.scale == "standing":
            assert np.all(st.wt_t % 60.0 == 0.0)  # charted to the minute
        d = st.sig == S.DOSE
        assert np.all(st.time[d] % 60.0 == 0.0)
        true = np.asarray(sc.truth["doses_given_s"]) + st.start
        assert np.all(np.abs(np.sort(st.time[d]) - np.sort(true)) <= 1800.0)
    ev = Counter()
    for sc in cohort:
        ev.update(sc.streams.events)
    doses = sum(len(sc.truth["doses_given_s"]) for sc in cohort)
    assert 0.3 < ev["dose_late"] / doses < 0.95
    assert 0.2 < ev["dose_scheduled_time"] / doses < 0.6
    assert W.DOSE_LATE_S == 600.0 and C.CUFF_LOW_SBP == 90.0
