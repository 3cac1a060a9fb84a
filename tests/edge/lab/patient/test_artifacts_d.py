"""Artifact model D (edge/lab/patient/artifacts_d/): determinism, well-formed rows in the
signals' units, each artifact kind present and counted in ``events``, at its documented rate
over a small cohort (generous bounds, fixed seeds), the same patient and truth as model A."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from edge.lab.patient import DEFAULT_START, generate
from edge.lab.patient.artifacts_b import streams as S
from edge.lab.patient.artifacts_d import cuff as C
from edge.lab.patient.artifacts_d import mar as M
from edge.lab.patient.artifacts_d import measure_d
from edge.lab.patient.artifacts_d import oximeter as O
from edge.lab.patient.artifacts_d import weight as W
from edge.vocabulary import Reading
from tests.edge.lab.patient.feed import feed_disorder

SEED = 13
PATIENTS = 12
DAYS = 1.5


@pytest.fixture(scope="module")
def cohort():
    return [generate(None, seed=SEED, index=i, days=DAYS, artifacts="d") for i in range(PATIENTS)]


@pytest.fixture(scope="module")
def devices(cohort):
    """The oximeter's per-second output for each patient (true seconds), with its events."""
    out = []
    for sc in cohort:
        ev: dict[str, int] = {}
        rng = np.random.default_rng([SEED, sc.index, 99])
        ends = np.asarray([t + 40.0 for t, *_ in sc.trajectory.nibp])
        out.append((sc, O.measure_oximeter(sc.trajectory, rng, DEFAULT_START, ends, ev), ev))
    return out


def _hours(cohort):
    return sum(sc.truth["duration_s"] for sc in cohort) / 3600.0


def test_model_d_is_deterministic_for_a_seed_and_keeps_the_patient():
    a = generate("moderate", seed=4, days=0.4, artifacts="d")
    b = generate("moderate", seed=4, days=0.4, artifacts="d")
    c = generate("moderate", seed=5, days=0.4, artifacts="d")
    ref = generate("moderate", seed=4, days=0.4, artifacts="a")
    others = [generate("moderate", seed=4, days=0.4, artifacts=m) for m in ("b", "c")]
    assert list(a.streams.rows()) == list(b.streams.rows())
    assert a.streams.events == b.streams.events and a.streams.log == b.streams.log
    assert list(a.streams.rows()) != list(c.streams.rows())
    # Same patient, physiology and truth as under A, B and C: only the devices differ.
    assert a.truth == ref.truth == others[0].truth == others[1].truth
    assert np.array_equal(a.trajectory.sbp, ref.trajectory.sbp)
    for o in others:
        assert list(a.streams.rows()) != list(o.streams.rows())
    # measure_d itself depends on its generator only
    again = measure_d(a.trajectory, np.random.default_rng([4, 0, 0xD]), DEFAULT_START)
    assert list(again.rows()) == list(a.streams.rows())


# the unknown-model error and readings()/export() of the StreamsB container: in
# test_artifacts_b.py, for B, C and D


def test_rows_are_well_formed_and_in_the_signals_units(cohort):
    for sc in cohort[:4]:
        st = sc.streams
        assert np.all(np.diff(st.arrival) >= 0)  # arrival order
        assert np.all(np.isfinite(st.value)) and np.all(np.isfinite(st.time))
        assert st.arrival.min() >= 0.0
        ox = np.isin(st.sig, [S.SIG["spo2"], S.SIG["pulse"], S.SIG["pi"]])
        assert np.all(st.flag[~ox] == S.F_NONE)  # only the oximeter flags its rows
        spo2 = st.sig == S.SIG["spo2"]
        assert st.value[spo2].min() >= 0 and st.value[spo2].max() <= 100
        blank = np.isin(st.flag, S.MONITOR_BLANK) & ox
        assert np.all(st.value[blank] == 0.0)
        assert np.all(st.value[~blank & spo2] >= 1.0)
        pulse = (st.sig == S.SIG["pulse"]) & ~blank
        assert st.value[pulse].min() >= 25 and st.value[pulse].max() <= 250
        for name, lo, hi in (("sbp", 40, 260), ("map", 25, 200), ("dbp", 20, 180)):
            m = st.sig == S.SIG[name]
            assert lo <= st.value[m].min() and st.value[m].max() <= hi, name
        wt = st.sig == S.SIG["weight"]
        assert st.value[wt].min() > 35 and st.value[wt].max() < 150
        # every row is a valid Reading in its signal's unit (readings() skips validation)
        for item, row in zip(st.readings(), st.rows(), strict=True):
            if row[1] == "dose":
                assert item == row[0]
                continue
            assert isinstance(item, Reading)
            assert item == Reading.of(
                row[1], row[2], time=row[0], source="virtual-patient", flags=row[3]
            )
        # the views: one entry per distinct measurement, sorted by stamp
        assert np.all(np.diff(st.ox_t) > 0)
        assert np.array_equal(st.monitor_shown, (st.spo2 > 0))
        t, first = np.unique(st.time[spo2], return_index=True)
        assert np.isin(t, st.ox_t).all()  # the link may lose seconds the monitor showed
        shown = st.monitor_shown[np.searchsorted(st.ox_t, t)]
        assert np.array_equal(shown, ~np.isin(st.flag[spo2][first], S.MONITOR_BLANK))
        ok = ~np.isnan(st.map)
        assert np.all(st.dbp < st.sbp) and np.all(st.map[ok] > st.dbp[ok])
        assert np.all(st.map[ok] < st.sbp[ok])
        assert np.all(np.diff(st.nibp_t) >= 0) and np.all(np.diff(st.wt_t) >= 0)
        assert len(st.doses) == len(sc.truth["doses_given_s"])
        assert len(st.weight) > 0 and 40 < st.baseline_weight < 140


def test_every_artifact_kind_is_present_and_counted(cohort):
    ev = Counter()
    for sc in cohort:
        ev.update(sc.streams.events)
        logged = Counter(e[0] for e in sc.streams.log)
        for kind in ("motion", "probe_off", "low_perfusion", "sleep_desaturation"):
            assert logged[kind] == sc.streams.events[kind], kind
        assert set(logged) <= {"motion", "probe_off", "low_perfusion", "sleep_desaturation"}
    for kind in (
        "motion",
        "motion_flagged",
        "probe_off",
        "probe_silent_device",
        "low_perfusion",
        "cuff_occlusion",
        "low_perfusion_flagged_s",
        "lowperf_dropout_s",
        "osa_patient",
        "sleep_desaturation",
        "clock_step",
        "late_spikes",
        "stall_flush",
        "stall_live_first",
        "stall_lost",
        "resent_rows",
        "cuff_failed",
        "cuff_retry",
        "cuff_outlier",
        "cuff_no_map",
        "cuff_split_stamps",
        "cuff_late",
        "nibp_minute_clock",
        "dose_late",
        "dose_end_time",
        "dose_rounded",
        "baseline_stated",
    ):
        assert ev[kind] > 0, kind
    assert ev["bed_item"] + ev["weigh_outlier"] + ev["reweigh"] > 0


def test_motion_rate_flag_share_and_a_dip_before_its_flag(devices):
    motion = [e for _, ox, _ in devices for e in ox.log if e[0] == "motion"]
    hours = sum(len(ox.t) for _, ox, _ in devices) / 3600.0
    assert O.MOTION_PER_H_ASLEEP * hours < len(motion) < O.MOTION_PER_H_AWAKE * hours
    lags = [e[3] for e in motion if not math.isnan(e[3])]
    assert abs(len(lags) / len(motion) - O.MOTION_FLAGGED_SHARE) < 0.1
    assert min(lags) >= O.MOTION_FLAG_LAG_S[0] and max(lags) <= O.MOTION_FLAG_LAG_S[1]
    dips = steady = flagged = late_flag = 0
    for _, ox, _ in devices:
        for kind, a, b, lag in ox.log:
            i, e = int(a), int(b)
            if kind != "motion" or i < 60 or e - i < 12 or e + 10 > len(ox.t):
                continue
            before = ox.flag[i - 60 : i] == S.F_NONE
            if not before.all():
                continue
            base_v = float(np.median(ox.spo2[i - 60 : i]))
            if math.isnan(lag):
                # an unflagged dip: no flag, the pulse steady
                if (ox.flag[i:e] == S.F_NONE).all() and base_v - ox.spo2[i:e].min() >= 1.0:
                    dips += 1
                    pulse_base = float(np.median(ox.pulse[i - 60 : i]))
                    steady += int(np.abs(ox.pulse[i:e] - pulse_base).max() < 12)
            elif lag >= 4:
                # the reading already falls, unflagged, before the flag comes
                flagged += 1
                pre = slice(i, i + int(lag))
                late_flag += int(
                    (ox.flag[pre] == S.F_NONE).all()
                    and ox.flag[i + int(lag)] == S.F_ARTIFACT
                    and base_v - ox.spo2[pre].min() >= 1.0
                )
    assert dips >= 5 and steady >= 0.8 * dips
    assert flagged >= 5 and late_flag >= 0.5 * flagged


def test_probe_off_is_garbage_then_searching_then_off_then_a_ramp(devices):
    offs = [(ox, e) for _, ox, _ in devices for e in ox.log if e[0] == "probe_off"]
    hours = sum(len(ox.t) for _, ox, _ in devices) / 3600.0
    assert (
        0.5 * O.PROBE_OFF_PER_H_ASLEEP * hours < len(offs) < 1.5 * O.PROBE_OFF_PER_H_AWAKE * hours
    )
    kinds = set()
    for ox, (_, a, b, g) in offs:
        i, j, e = int(a), int(g), int(b)
        if e >= len(ox.t) - 1:
            continue
        assert (ox.flag[i:j] == S.F_NONE).all()  # garbage, unflagged
        assert ox.flag[j] == S.F_SEARCHING and ox.spo2[j] == 0.0
        blank = np.isin(ox.flag[j:e], S.MONITOR_BLANK)
        k = j + int(np.argmin(blank))  # first value again: the ramp
        assert not blank[k - j :].any()
        assert ox.flag[k - 1] == S.F_SEARCHING  # re-acquiring before values come back
        off = ox.flag[j:k] == S.F_SENSOR_OFF
        assert off.any()
        kinds.add("silent" if not ox.shown[j:k][off].any() else "rows")
        ramp = ox.spo2[k:e]
        assert ramp[0] < ramp[-1] or len(ramp) < 3
    assert kinds == {"silent", "rows"}


def test_low_perfusion_flags_follow_the_perfusion_index(cohort):
    flagged = 0
    for sc in cohort:
        st = sc.streams
        pi = st.sig == S.SIG["pi"]
        low = pi & (st.flag == S.F_LOWPERF)
        assert np.all(st.value[low] < O.LOWPERF_PI_FLAG)
        assert np.all(st.value[low] >= O.DROPOUT_PI)
        # unflagged PI is above the flag threshold, except in a probe-off's garbage phase
        # and its re-attach ramp (both unflagged by design)
        ok = pi & (st.flag == S.F_NONE)
        assert np.mean(st.value[ok] < O.LOWPERF_PI_FLAG) < 0.005
        flagged += int(low.sum())
    assert flagged > 0
    spont = sum(
        sc.streams.events["low_perfusion"] - sc.streams.events["cuff_occlusion"] for sc in cohort
    )
    expected = O.LOWPERF_PER_H * _hours(cohort)
    assert 0.4 * expected < spont < 2.0 * expected
    arm = [sc for sc in cohort if sc.streams.events.get("cuff_arm")]
    assert 0 < len(arm) < len(cohort)
    for sc in arm:
        assert (
            sc.streams.events["cuff_occlusion"]
            <= sc.streams.events["cuff_cycles"] + sc.streams.events["cuff_failed"]
        )


def test_sleep_desaturations_are_asleep_real_dips_and_not_in_the_truth(cohort, devices):
    osa = [sc for sc in cohort if sc.streams.events["osa_patient"]]
    assert 0 < len(osa) < len(cohort)
    for sc in cohort:
        dips = [e for e in sc.streams.log if e[0] == "sleep_desaturation"]
        assert bool(dips) == bool(sc.streams.events["osa_patient"]) or not dips
        for _, a, _b, depth in dips:
            h = ((sc.streams.start + a) % 86400.0) / 3600.0
            assert h >= O.SLEEP_ONSET_H[0] or h < O.WAKE_H[1]
            assert O.DESAT_DEPTH[0] <= depth <= O.DESAT_DEPTH[1]
    # the reading falls in them (the device's averaging smooths, it does not hide them)
    falls = []
    for _, ox, _ in devices:
        for kind, a, b, depth in ox.log:
            i, e = int(a), int(b)
            if kind == "sleep_desaturation" and i > 60 and (ox.flag[i - 60 : e] == S.F_NONE).all():
                falls.append((np.median(ox.spo2[i - 60 : i]) - ox.spo2[i : e + 10].min()) / depth)
    assert len(falls) > 20 and np.median(falls) > 0.5
    # the truth never sees them: it comes from the trajectory alone
    for sc in osa[:2]:
        ref = generate(None, seed=SEED, index=sc.index, days=DAYS, artifacts="a")
        assert ref.truth == sc.truth


def test_cuff_failures_retries_outliers_remeasures_and_parts():
    cohort = [generate("severe", seed=SEED, index=i, days=DAYS, artifacts="d") for i in range(8)]
    ev = Counter()
    split = any_order = 0
    for sc in cohort:
        ev.update(sc.streams.events)
        st = sc.streams
        parts = np.isin(st.sig, [S.SIG["sbp"], S.SIG["map"], S.SIG["dbp"]])
        stamps = Counter(zip(st.time[parts].tolist(), st.sig[parts].tolist(), strict=True))
        split += sum(
            1 for (tt, s) in stamps if s == S.SIG["dbp"] and (tt, S.SIG["sbp"]) not in stamps
        )
        seq = st.sig[parts].tolist()
        any_order += sum(
            1 for x, y in itertools.pairwise(seq) if (x, y) == (S.SIG["dbp"], S.SIG["sbp"])
        )
        if st.events["nibp_minute_clock"]:
            monitor = st.arrival[parts] - (st.time[parts] - st.start) < 3600.0
            assert np.all(st.time[parts][monitor] % 60.0 == 0.0)
    cyc = ev["cuff_cycles"]
    assert 0.03 < ev["cuff_failed"] / cyc < 0.2
    assert 0.3 < ev["cuff_retry"] / ev["cuff_failed"] <= 1.0
    assert 0.015 < ev["cuff_outlier"] / cyc < 0.07
    assert ev["cuff_remeasure"] > 0 and ev["cuff_manual"] > 0
    assert ev["cuff_no_map"] > 0 and split > 0 and ev["cuff_split_stamps"] > 0
    assert any_order > 0


def test_the_cuff_over_reads_low_pressure():
    assert C._regression(70.0) > C._regression(95.0) > 0.0 == C._regression(120.0)
    assert C._regression(180.0) < 0.0


def test_duplicates_out_of_order_and_late_rows(cohort):
    dups, ooo, late, charted = feed_disorder(cohort)
    assert dups > 10 and ooo > 10 and late > 0
    assert late / charted < 0.5


def test_weight_scales_baseline_and_doses(cohort):
    scales = {sc.streams.scale for sc in cohort}
    assert scales == {"standing", "bed"}
    for sc in cohort:
        st = sc.streams
        if st.scale == "standing":
            assert np.all(st.wt_t % 60.0 == 0.0)  # charted to the minute
        true0 = float(sc.trajectory.weight[0])
        if st.events["baseline_stated"]:
            assert st.baseline_weight == round(st.baseline_weight)
            assert abs(st.baseline_weight - sc.params.dry_weight_kg) < 5 * W.STATED_SD_KG
        else:
            extra = st.baseline_weight - true0
            assert W.ADMISSION_CLOTHES_KG[0] - 1.0 < extra < W.ADMISSION_CLOTHES_KG[1] + 1.0
        d = st.sig == S.DOSE
        assert np.all(st.time[d] % 60.0 == 0.0)
        true = np.asarray(sc.truth["doses_given_s"]) + st.start
        assert np.all(np.abs(np.sort(st.time[d]) - np.sort(true)) <= M.INFUSION_S + M.ROUND_S)
        assert np.all(st.arrival[d] >= st.time[d] - st.start)  # charted after the fact
    ev = Counter()
    for sc in cohort:
        ev.update(sc.streams.events)
    doses = sum(len(sc.truth["doses_given_s"]) for sc in cohort)
    assert 0.15 < ev["dose_late"] / doses < 0.6
    assert 0.05 < ev["dose_end_time"] / doses < 0.4


def test_weighing_outliers_are_about_3_kg_and_reweighed():
    cohort = [generate("mild", seed=SEED + 1, index=i, days=3.0, artifacts="d") for i in range(10)]
    ev = Counter()
    for sc in cohort:
        ev.update(sc.streams.events)
        st = sc.streams
        true = np.interp(st.wt_t - st.start, sc.trajectory.t, sc.trajectory.weight)
        err = st.weight - true
        assert np.all(np.abs(err) < W.OUTLIER_KG[1] + W.BED_ITEM_KG[1] + 1.5)
    assert ev["weigh_outlier"] > 0 and ev["reweigh"] > 0
