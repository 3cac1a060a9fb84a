"""Simulator models: every registered device's model round-trips through its own driver.

Parametrised over the registry with no per-driver branches (the way the engine
drives a model is in :func:`tests.drivers.helpers.simulated_stream`).
"""

from __future__ import annotations

import pytest

from drivers.model import VitalState
from drivers.registry import driver_names, get_driver
from edge.vocabulary import Reading
from tests.drivers.helpers import scenario_values, simulated_stream


@pytest.mark.parametrize("name", driver_names())
def test_the_model_round_trips_through_its_driver(name: str) -> None:
    spec = get_driver(name)
    stream, end = simulated_stream(name, rounds=1)
    readings = spec.decoder(name, {}).feed(stream, now=end)
    assert readings, f"{name}: its simulator's bytes decode to nothing"
    want = scenario_values(0)
    for r in readings:
        assert r.signal in spec.signals
        assert r.value == pytest.approx(want[r.signal], abs=1e-6), r


@pytest.mark.parametrize("name", driver_names())
def test_the_model_measures_what_its_driver_emits(name: str) -> None:
    spec = get_driver(name)
    assert spec.model({}).signals <= set(spec.signals)


def test_flags_of_a_signal_the_scenario_stopped_sending_expire() -> None:
    """A patient scenario sends PI flagged sensor_off only while the probe is off;
    once SpO2 flows again unflagged, the device must stop reporting sensor off."""
    state = VitalState()
    state.update(Reading.of("spo2", 97, time=0.0))
    state.update(Reading.of("pi", 3.0, time=1.0, flags={"sensor_off"}))
    assert "sensor_off" in state.all_flags("spo2", "pi")
    state.update(Reading.of("spo2", 97, time=2.0))
    assert "sensor_off" in state.all_flags("spo2", "pi")  # still fresh
    state.update(Reading.of("spo2", 96, time=10.0))
    assert state.all_flags("spo2", "pi") == frozenset()
