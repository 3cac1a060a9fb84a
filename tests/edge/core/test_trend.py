"""The trend estimators against analytic cases."""

from __future__ import annotations

import math
import random

import pytest

from edge.core.trend import ExpAverage, LocalLinearTrend, MinuteMean, TrendEstimate, normal_cdf

T0 = 1_780_000_000.0


def test_constant_stream_gives_zero_slope_and_the_constant() -> None:
    f = LocalLinearTrend(q=0.5, r=64.0)
    for i in range(200):
        f.update(T0 + i * 900.0, 118.0)
    assert f.slope_per_h == 0.0
    assert f.level == pytest.approx(118.0)
    # the stated uncertainty shrinks with evidence
    est = f.estimate()
    assert est is not None and est.slope_sd < 2.0  # from a prior SD of 10 mmHg/h


@pytest.mark.parametrize("slope", [-4.0, -1.0, 0.5, 2.0])
def test_noise_free_ramp_is_tracked_without_bias(slope: float) -> None:
    f = LocalLinearTrend(q=0.3, r=64.0)
    for i in range(300):
        f.update(T0 + i * 900.0, 120.0 + slope * i * 0.25)
    assert f.slope_per_h == pytest.approx(slope, abs=1e-3)
    assert f.level == pytest.approx(120.0 + slope * 299 * 0.25, abs=1e-2)


@pytest.mark.parametrize("seed", range(5))
def test_noisy_irregular_ramp_slope_within_its_stated_error(seed: int) -> None:
    rng = random.Random(seed)
    f = LocalLinearTrend(q=0.3, r=64.0)
    t = T0
    true_slope = -1.5
    for _ in range(150):
        t += rng.uniform(600.0, 5400.0)  # 10 to 90 min apart
        h = (t - T0) / 3600.0
        f.update(t, 125.0 + true_slope * h + rng.gauss(0.0, 8.0))
    est = f.estimate()
    assert est is not None
    assert abs(est.slope_per_h - true_slope) < 3.0 * est.slope_sd
    assert est.slope_sd < 2.0


def test_q_form_is_the_white_noise_acceleration_model() -> None:
    # After a measurement, predicting dt ahead adds q*dt^3/3 to the level variance
    f = LocalLinearTrend(q=2.0, r=1.0)
    f.update(T0, 0.0)
    est0 = f.estimate()
    est = f.estimate(T0 + 2 * 3600.0)
    assert est0 is not None and est is not None
    dt = 2.0
    expected = est0.level_var + dt * dt * est0.slope_var + 2.0 * dt**3 / 3.0
    assert est.level_var == pytest.approx(expected)
    assert est.slope_var == pytest.approx(est0.slope_var + 2.0 * dt)
    assert est.cov == pytest.approx(dt * est0.slope_var + 2.0 * dt * dt / 2.0)


def test_gap_longer_than_max_restarts_the_filter() -> None:
    f = LocalLinearTrend(q=0.3, r=4.0, max_gap_h=2.0)
    for i in range(10):
        f.update(T0 + i * 600.0, 100.0 - i)
    assert f.slope_per_h < -3
    f.update(T0 + 5 * 3600.0 + 6000.0, 80.0)
    assert (f.level, f.slope_per_h, f.n) == (80.0, 0.0, 1)


def test_projection_probability_and_hours() -> None:
    est = TrendEstimate(T0, 100.0, -5.0, 4.0, 0.25, 0.0, 20)
    assert est.hours_to(90.0) == pytest.approx(2.0)
    assert est.hours_to(110.0) == math.inf
    mean, sd = est.projected(4.0)
    assert mean == pytest.approx(80.0)
    assert sd == pytest.approx(math.sqrt(4.0 + 16 * 0.25))
    assert est.probability_below(90.0, 4.0) == pytest.approx(normal_cdf(10.0 / sd))
    assert est.probability_below(90.0, 0.0) < 0.01


def test_minute_means_and_exp_average() -> None:
    m = MinuteMean(60.0)
    t0 = T0 - T0 % 60
    done = [m.add(t0 + i, 90.0 + (i % 60 >= 30)) for i in range(121)]
    finished = [d for d in done if d is not None]
    assert len(finished) == 2
    assert finished[0][1:] == (90.5, 60)
    e = ExpAverage(half_life_s=600.0)
    e.update(T0, 80.0)
    e.update(T0 + 600.0, 120.0)
    assert e.value == pytest.approx(100.0)
