"""``capleak simulate --scenario patient:SEVERITY:SEED`` plays a virtual patient over a real pty."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from drivers.simulator.scenario import load_scenario
from tests.drivers.conftest import SimProcess
from tests.drivers.test_transport import Sink, link_for
from tests.support import wait_for


def test_patient_plugin_through_load_scenario():
    rs = list(itertools.islice(load_scenario("patient:moderate:7", 5000.0, source="sim"), 5000))
    assert all(b.time >= a.time for a, b in itertools.pairwise(rs))
    assert {r.signal for r in rs} >= {"spo2", "pulse"}
    assert all(r.source == "sim" for r in rs)
    with pytest.raises(ValueError, match="SEVERITY"):
        next(load_scenario("patient:awful", 0.0))


def test_simulate_plays_a_virtual_patient(simulator: Callable[..., SimProcess]) -> None:
    sim = simulator(
        "--device", "masimo-ascii", "--port", "pty", "--scenario", "patient:moderate:7",
        "--speed", "4",
    )  # fmt: skip
    sink = Sink()
    link = link_for(sim.path, "masimo-ascii", sink).start()
    try:
        wait_for(lambda: len(sink.values("spo2")) >= 5, 20, message="virtual-patient SpO2")
    finally:
        link.stop()
    first = itertools.islice(load_scenario("patient:moderate:7", 0.0), 4000)
    expected = [r.value for r in first if r.signal == "spo2"]
    got = sink.values("spo2")
    # the device plays the patient's own values (its first minutes)
    assert set(got) <= set(expected)
    assert all(80 <= v <= 100 for v in got)
