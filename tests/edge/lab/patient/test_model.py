"""Invariants of the virtual patient's physiology (edge/lab/patient/model.py)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from edge.lab.patient.model import (
    COHORT_MIX,
    MAX_DOSES,
    draw_params,
    inverse_severinghaus,
    severinghaus,
    simulate,
)
from edge.lab.patient.truth import first_sustained, ground_truth


def patient(severity, seed, index, days=5.0):
    """Like edge.lab.patient.generate without the measurement layer (faster)."""
    rng = np.random.default_rng([seed, index])
    if severity is None:
        names = list(COHORT_MIX)
        severity = names[int(rng.choice(len(names), p=list(COHORT_MIX.values())))]
    tr = simulate(draw_params(severity, rng), rng, days=days)
    return tr, ground_truth(tr)


def leak_free(seed: int = 0):
    p = draw_params("none", np.random.default_rng(seed))
    return dataclasses.replace(
        p, perm_gain=0.0, sigma_drop=0.0, vaso_gain=0.0, renal_il2=0.0, fever_gain=0.0
    )


def test_severinghaus_known_points():
    assert severinghaus(60.0) == pytest.approx(90.6, abs=0.1)
    assert severinghaus(40.0) == pytest.approx(75.0, abs=0.1)
    assert inverse_severinghaus(severinghaus(83.0)) == pytest.approx(83.0, abs=1e-6)


@pytest.mark.parametrize("severity", ["none", "mild", "moderate", "severe"])
def test_fluid_is_conserved(severity):
    for seed in range(3):
        rng = np.random.default_rng([seed, 7])
        tr = simulate(draw_params(severity, rng), rng, days=3.0)
        body = tr.vp + tr.vi - (tr.vp[0] + tr.vi[0])
        net = tr.fluid_in - tr.fluid_out
        np.testing.assert_allclose(body, net, atol=1e-9)
        # weight = dry weight + net fluid (1 L = 1 kg)
        np.testing.assert_allclose(tr.weight - tr.params.dry_weight_kg, net, atol=1e-9)
        assert (tr.vp > 0).all() and (tr.vi > 0).all()


def test_leak_free_patient_stays_stable():
    p = leak_free()
    tr = simulate(p, np.random.default_rng(1), days=5.0)
    assert len(tr.doses_given) == MAX_DOSES and not tr.doses_held
    assert np.ptp(tr.weight) < 0.25  # kg; urine follows the circadian MAP a little
    assert np.ptp(tr.vp) / tr.vp[0] < 0.01
    assert np.ptp(tr.albumin) < 0.05  # g/dL; a leaker falls by > 0.5
    # only the circadian rhythm and slow noise remain
    assert np.abs(tr.sbp - p.sbp0).max() < 20.0
    assert np.abs(tr.hr - p.hr0).max() < 15.0
    assert tr.spo2.min() > p.spo2_0 - 2.0
    assert not tr.boluses and not tr.pressor.any() and not tr.oxygen.any()


def test_leak_raises_weight_and_lowers_albumin():
    base = leak_free()
    leaky = dataclasses.replace(base, perm_gain=4.0, sigma_drop=0.25, renal_il2=0.7)
    a = simulate(base, np.random.default_rng(2), days=4.0)
    b = simulate(leaky, np.random.default_rng(2), days=4.0)
    assert b.weight.max() - a.weight.max() > 2.0
    assert b.albumin.min() < a.albumin.min() - 0.5
    assert b.vi[-1] > a.vi[-1]


def test_doses_q8h_held_when_criteria_met():
    for i in range(30):
        tr, _ = patient("severe", 5, i)
        given, held = tr.doses_given, tr.doses_held
        assert len(given) + len(held) <= MAX_DOSES
        all_doses = sorted(given + held)
        assert all(abs((b - a) - 8 * 3600.0) < 61.0 for a, b in itertools.pairwise(all_doses))
        for t in held:
            k = int(t // 60)
            w0 = tr.params.dry_weight_kg
            assert (
                tr.sbp[k] < 90
                or tr.spo2[k] < 90
                or tr.hr[k] > 130
                or tr.weight[k] > 1.15 * w0
                or tr.pressor[k : k + 2].any()  # a pressor started at this step
                or any(0 <= t - b < 1800 for b in tr.boluses)
            )


def test_ground_truth_times_match_the_true_physiology():
    seen = 0
    for i in range(40):
        tr, truth = patient(None, 9, i)
        crit = truth["hold_criteria_first_met_s"]
        t = crit["sbp"]
        if t is not None:
            seen += 1
            k = int(t // 60)
            assert (tr.sbp[k : k + 10] < 90).all()
            # no earlier 10-minute run below 90
            assert first_sustained(tr.t[:k], tr.sbp[:k] < 90, 10.0) is None
        if truth["first_hold_s"] is not None:
            assert truth["severity"] in ("moderate", "severe")
            assert truth["onset_s"] <= truth["first_hold_s"]
        else:
            assert truth["severity"] in ("none", "mild")
    assert seen > 0


def test_cohort_contains_every_class_and_weight_without_hypotension():
    truths = [patient(None, 3, i)[1] for i in range(60)]
    classes = {t["severity"] for t in truths}
    assert classes == {"none", "mild", "moderate", "severe"}
    assert any(t["subtype"] == "weight_without_hypotension" for t in truths)
    # a never-leaker: no weight gain to speak of
    assert any(t["drawn_severity"] == "none" and t["max_weight_gain_pct"] < 1.0 for t in truths)
