"""The simulator engine: fault windows and the command line's argument checks."""

from __future__ import annotations

from drivers.simulator import Faults, parse_window
from tests.support import run_cli


def test_fault_windows() -> None:
    f = Faults(silence=(parse_window("10s+5s"),), unplug=(parse_window("1m+1m"),))
    assert not Faults.active(f.silence, 9.9) and Faults.active(f.silence, 10.0)
    assert not Faults.active(f.silence, 15.0)
    assert f.boundaries() == [10.0, 15.0, 60.0, 120.0]


def test_simulate_rejects_bad_arguments_clearly() -> None:
    p = run_cli("simulate", "--device", "masimo-ascii", "--scenario", "bogus=1", "--port", "pty")
    assert p.returncode == 2 and b"unknown signal 'bogus'" in p.stderr
    p = run_cli("simulate", "--device", "masimo-ascii", "--unplug", "later")
    assert p.returncode == 2 and b"AT+DURATION" in p.stderr
