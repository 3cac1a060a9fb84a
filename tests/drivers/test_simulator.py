"""Device models: what the simulator sends decodes, with the real driver, to the scenario."""

from __future__ import annotations

import os

from drivers.registry import get_driver
from drivers.simulator import Faults, VitalState, make_model, parse_window
from edge.vocabulary import Reading
from tests.support import run_cli


def state(**values: float) -> VitalState:
    s = VitalState()
    for k, v in values.items():
        s.update(Reading.of(k, v, time=0.0))
    return s


def decode(driver: str, frames: list[bytes], now: float = 100.0) -> list[Reading]:
    d = get_driver(driver).decoder(driver, {})
    return d.feed(b"".join(frames), now=now)


def test_masimo_model_rounds_like_the_device_and_maps_flags() -> None:
    m = make_model("masimo-ascii")
    s = state(spo2=96.6, pulse=71.2, pi=3.456)
    s.update(Reading.of("spo2", 96.6, time=0.0, flags={"artifact"}))
    out = decode("masimo-ascii", m.emit(s, 1_767_225_600.0))
    assert [(r.signal, r.value, sorted(r.flags)) for r in out] == [
        ("spo2", 97.0, ["artifact"]),
        ("pulse", 71.0, ["artifact"]),
        ("pi", 3.46, ["artifact"]),
    ]
    assert out[0].time == 1_767_225_600.0
    s.sensor_off = True
    assert decode("masimo-ascii", m.emit(s, 1_767_225_601.0)) == []


def test_nonin_model_sends_one_packet_per_75_frames_per_second() -> None:
    m = make_model("nonin-df2")
    assert m.period_s == 1 / 75
    frames = [f for k in range(50) for f in m.emit(state(spo2=94, pulse=66), k / 75)]
    assert all(len(f) == 5 for f in frames)
    assert [(r.signal, r.value) for r in decode("nonin-df2", frames)] == [
        ("spo2", 94.0),
        ("pulse", 66.0),
        ("spo2", 94.0),
        ("pulse", 66.0),
    ]


def test_accutorr_model_counts_minutes_from_the_measurement() -> None:
    m = make_model("accutorr")
    s = VitalState()
    assert decode("accutorr", m.answer(b"P", s, 0.0)) == []  # no measurement yet: dashes
    for sig, v in (("sbp", 118.4), ("map", 88.0), ("dbp", 71.0)):
        r = Reading.of(sig, v, time=1000.0)
        s.update(r)
        m.on_reading(s, r, 1000.0)
    answer = m.answer(b"P", s, 1000.0 + 5 * 60 + 10)
    assert answer == [b"P:--,--,118, 88, 71,000,010,000, 5\r"]
    out = decode("accutorr", answer, now=2000.0)
    assert [(r.signal, r.value, r.time) for r in out] == [
        ("sbp", 118.0, 1700.0),
        ("map", 88.0, 1700.0),
        ("dbp", 71.0, 1700.0),
    ]
    assert m.answer(b"X", s, 0.0) == []


def test_scale_models() -> None:
    ad = make_model("ad-scale")
    r = Reading.of("weight", 71.234, time=0.0, flags={"unstable"})
    assert ad.on_reading(state(), r, 0.0) == [b"US,+00071.23 kg\r\n"]
    sics = make_model("mt-sics")
    assert sics.answer(b"S", VitalState(), 0.0) == [b"S I\r\n"]
    assert sics.answer(b"S", state(weight=80.456), 0.0) == [b"S S      80.46 kg\r\n"]
    assert sics.answer(b"XYZ", state(weight=80.0), 0.0) == [b"ES\r\n"]


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


def test_link_never_replaces_a_real_file(tmp_path) -> None:
    import pytest

    from drivers.simulator import PtyEndpoint

    real = tmp_path / "ttyUSB0"
    real.write_text("not a link")
    with pytest.raises(ValueError, match="not a symlink"):
        PtyEndpoint(str(real)).open()
    assert real.read_text() == "not a link"
    link = tmp_path / "spo2"
    ep = PtyEndpoint(str(link))
    path = ep.open()
    assert os.readlink(link) == path
    ep.close()
    assert not os.path.lexists(link)


def test_flags_of_a_signal_the_scenario_stopped_sending_expire() -> None:
    """A patient scenario sends PI flagged sensor_off only while the probe is off;
    once SpO2 flows again unflagged, the device must stop reporting sensor off."""
    from drivers.simulator import VitalState
    from edge.vocabulary import Reading

    state = VitalState()
    state.update(Reading.of("spo2", 97, time=0.0))
    state.update(Reading.of("pi", 3.0, time=1.0, flags={"sensor_off"}))
    assert "sensor_off" in state.all_flags("spo2", "pi")
    state.update(Reading.of("spo2", 97, time=2.0))
    assert "sensor_off" in state.all_flags("spo2", "pi")  # still fresh
    state.update(Reading.of("spo2", 96, time=10.0))
    assert state.all_flags("spo2", "pi") == frozenset()
