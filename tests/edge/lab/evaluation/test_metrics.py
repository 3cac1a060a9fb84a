"""Metrics on tiny hand-made cohorts, where every number can be checked by hand."""

from __future__ import annotations

import math

import pytest

from edge.lab.evaluation.metrics import PatientOutcome, score

H = 3600.0
DAY = 86400.0


def cohort():
    return [
        # CLS, onset 10 h, first hold 20 h; alerts: one before onset (false), first
        # true alert 16 h (lead 4 h), another later
        PatientOutcome(
            0,
            "moderate",
            2 * DAY,
            10 * H,
            20 * H,
            {"d": [(5 * H, 6 * H, "bp"), (16 * H, 17 * H, "bp"), (19 * H, 19 * H, "wt")]},
        ),
        # severe: only alert 30 min after the hold (within 1 h grace): lead -0.5 h
        PatientOutcome(1, "severe", 2 * DAY, 12 * H, 30 * H, {"d": [(30.5 * H, 31 * H, "hypo")]}),
        # severe missed: alert 2 h after the hold, beyond grace
        PatientOutcome(2, "severe", 2 * DAY, 12 * H, 30 * H, {"d": [(32 * H, 33 * H, "hypo")]}),
        # no CLS, 4 days, two false alerts
        PatientOutcome(
            3, "none", 4 * DAY, None, None, {"d": [(1 * H, 2 * H, "bp"), (50 * H, 51 * H, "wt")]}
        ),
        # mild, 2 days, one alert
        PatientOutcome(4, "mild", 2 * DAY, 5 * H, None, {"d": [(40 * H, 41 * H, "wt")]}),
    ]


def test_overall_metrics_by_hand():
    s = score(cohort(), "d")
    assert s["events"] == 3 and s["detected"] == 2
    assert s["sensitivity"] == pytest.approx(2 / 3)
    assert s["sensitivity_by_class"] == {"moderate": 1.0, "severe": 0.5}
    assert sorted(s["lead_times_h"]) == [-0.5, 4.0]
    assert s["lead_time_h"]["median"] == pytest.approx(1.75)
    assert s["false_per_patient_day_no_cls"] == pytest.approx(2 / 4)
    # pre-onset: 1 alert over (10 + 12 + 12) h
    assert s["false_per_patient_day_pre_onset"] == pytest.approx(1 / (34 / 24))
    assert s["alerts_per_patient_day_mild"] == pytest.approx(0.5)
    assert s["alerts_total"] == 8
    assert s["alerts_per_true_event"] == pytest.approx(8 / 2)
    # 0.5 false alerts per day over a 13 h window
    assert s["chance_hit_rate"] == pytest.approx(1 - math.exp(-0.5 * 13 / 24))


def test_an_alert_still_active_in_the_window_counts_from_the_window_start():
    p = PatientOutcome(0, "severe", 2 * DAY, 2 * H, 30 * H, {"d": [(1 * H, 40 * H, "bp")]})
    s = score([p], "d")
    # started before onset (a false alert then), still active: detected 12 h ahead
    assert s["detected"] == 1 and s["lead_times_h"] == [12.0]
    assert s["false_per_patient_day_pre_onset"] == pytest.approx(1 / (2 / 24))
    ended = PatientOutcome(0, "severe", 2 * DAY, 2 * H, 30 * H, {"d": [(1 * H, 3 * H, "bp")]})
    assert score([ended], "d")["detected"] == 0


def test_per_indicator_metrics():
    s = score(cohort(), "d", "wt")
    # patient 0's 'wt' alert at 19 h: lead 1 h
    assert s["detected"] == 1 and s["lead_times_h"] == [1.0]
    assert s["false_per_patient_day_no_cls"] == pytest.approx(1 / 4)
    assert s["false_per_patient_day_pre_onset"] == 0.0


def test_lookback_limits_the_lead_time():
    s = score(cohort(), "d", lookback_s=2 * H)
    # patient 0: onset 10 h, hold 20 h: the window opens at 18 h: first alert 19 h
    assert sorted(s["lead_times_h"]) == [-0.5, 1.0]


def test_grace_window_and_empty_detector():
    s = score(cohort(), "d", grace_s=3 * H)
    assert s["detected"] == 3
    empty = score(cohort(), "other")
    assert empty["sensitivity"] == 0.0 and empty["lead_time_h"]["median"] is None
    assert empty["alerts_per_true_event"] is None
    assert score([], "d")["sensitivity"] is None


def test_false_by_code_counts_starts_during_a_real_non_cls_dip_apart() -> None:
    from edge.lab.evaluation.metrics import false_by_code

    dips = ((10 * H, 10 * H + 180), (20 * H, 20 * H + 120))
    p = PatientOutcome(
        0,
        "none",
        2 * DAY,
        None,
        None,
        {"d": [(10 * H + 30, 10 * H + 90, "desat"), (30 * H, 31 * H, "hypo")]},
        real_dips=dips,
    )
    out = false_by_code([p], "d")["none"]
    assert out["starts"] == 2 and out["during_real_dip"] == 1
    assert out["by_code"] == {"desat": 1, "hypo": 1}
