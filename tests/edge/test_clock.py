"""Wall-clock steps: detection, the core's steady time, the alert book's deadlines."""

from __future__ import annotations

import doctest
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import edge.clock
import edge.messaging.alerts
from edge.clock import ManualClock, ScaledClock, SharedScaledClock, SteadyTime, StepWatch
from edge.messaging.alerts import AlertBook
from edge.vocabulary import Alert


@pytest.mark.parametrize("module", [edge.clock, edge.messaging.alerts])
def test_docstring_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def test_the_demo_clocks_never_look_stepped() -> None:
    """Scaled clocks run their wall and monotonic time together: no false step at x2300."""
    clocks = [
        ScaledClock(1_767_571_200.0, 2300.0),
        SharedScaledClock(1_767_571_200.0, 2300.0, anchor=time.time()),
    ]
    watches = [StepWatch(1.0) for _ in clocks]
    for _ in range(20):
        for c, w in zip(clocks, watches, strict=True):
            assert w.check(c.now(), c.monotonic()) == 0.0
        time.sleep(0.005)


def test_a_manual_step_moves_the_wall_time_only() -> None:
    c = ManualClock(1000.0)
    w = StepWatch(1.0)
    assert w.check(c.now(), c.monotonic()) == 0.0
    c.advance(5)
    assert w.check(c.now(), c.monotonic()) == 0.0
    c.step(-3600)
    assert w.check(c.now(), c.monotonic()) == -3600.0
    assert w.check(c.now(), c.monotonic()) == 0.0  # once


@given(
    steps=st.lists(
        st.tuples(st.floats(0.0, 30.0), st.floats(-86400.0, 86400.0)), min_size=1, max_size=40
    )
)
def test_steady_time_never_goes_back_and_never_outruns_the_slew(
    steps: list[tuple[float, float]],
) -> None:
    """Whatever the wall clock does, the steady time moves by dt x (1 - slew .. 1 + slew)."""
    slew = 0.5
    s = SteadyTime(slew)
    wall = mono = 1_767_571_200.0
    last = s.update(wall, mono)
    for dt, step in steps:
        mono += dt
        wall += dt + step
        t = s.update(wall, mono)
        assert dt * (1 - slew) - 1e-6 <= t - last <= dt * (1 + slew) + 1e-6
        last = t


def test_steady_time_converges_after_a_step_and_follows_the_floor() -> None:
    s = SteadyTime(0.5)
    s.update(10_000.0, 0.0)
    s.update(10_000.0 - 3600.0 + 1.0, 1.0)  # back 1 h
    for m in range(2, 7300):
        t = s.update(10_000.0 - 3600.0 + m, float(m))
    assert abs(s.apart) < 1e-6 and t == 10_000.0 - 3600.0 + 7299
    # a reading stamped later than the steady time pulls it forward
    assert s.update(20_000.0 - 3600.0, 7300.0, floor=30_000.0) == 30_000.0 and s.floored


def test_shifted_alert_book_keeps_the_real_interval_of_an_audio_pause() -> None:
    book = AlertBook(renotify_s=300)
    book.update(Alert("hypotension", "high", "physiological", "start", 1000.0, "SBP 85"))
    book.silence(120, now=1000.0)
    book.shift(+3600.0)  # the wall clock jumped an hour ahead
    assert book.tick(1000.0 + 3600.0 + 60.0) == []  # one real minute later: still paused
    ended = book.tick(1000.0 + 3600.0 + 120.0)
    assert [str(e.inactivation) for e in ended] == ["enabled"]
