"""The demo's shared scaled clock: two processes given one spec agree on simulated time."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from edge.clock import SharedScaledClock, SystemClock, clock_from_spec


def test_spec_round_trips_and_runs_at_speed() -> None:
    c = SharedScaledClock(start=1_800_000_000.0, speed=3600.0, anchor=time.time())
    same = clock_from_spec(c.spec)
    assert isinstance(same, SharedScaledClock)
    assert (same.start, same.speed, same.anchor) == (c.start, c.speed, c.anchor)
    a = c.now()
    time.sleep(0.05)
    assert c.now() - a >= 0.05 * 3600 * 0.9


def test_a_child_process_sees_the_same_simulated_time() -> None:
    c = SharedScaledClock(start=1_800_000_000.0, speed=1000.0, anchor=time.time())
    code = (
        "import sys; from edge.clock import clock_from_spec; "
        "print(clock_from_spec(sys.argv[1]).now())"
    )
    before = c.now()
    out = subprocess.run(
        [sys.executable, "-c", code, c.spec], capture_output=True, text=True, check=True
    )
    after = c.now()
    assert before <= float(out.stdout) <= after


def test_empty_spec_is_the_system_clock_and_junk_is_refused() -> None:
    assert isinstance(clock_from_spec(""), SystemClock)
    for bad in ("speed=2", "start=0,speed=x", "start=0,speed=1,warp=9", "start=0,speed=0"):
        with pytest.raises(ValueError):
            clock_from_spec(bad)
