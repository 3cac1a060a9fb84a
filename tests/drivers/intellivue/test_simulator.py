"""The simulated IntelliVue monitor as a simulator device model."""

from __future__ import annotations

from drivers.intellivue.framing import FrameReader, encode_frame
from drivers.intellivue.messages import extended_poll_request, parse_message
from drivers.intellivue.session import IntelliVueDecoder, IntelliVueSession
from drivers.intellivue.simulator import IntelliVueModel
from edge.vocabulary import Reading

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _kinds(data: bytes) -> list[str]:
    return [parse_message(u).kind for u in FrameReader().feed(data)]


class _VitalState:
    """The fields of ``drivers.model.VitalState`` the model reads (plain data)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.flags: dict[str, frozenset[str]] = {}
        self.times: dict[str, float] = {}
        self.sensor_off = False


def test_simulator_model_plays_vital_state_and_drops_association() -> None:
    model = IntelliVueModel({"abort_every": "10"})
    state = _VitalState()
    state.values.update(spo2=93.0, sbp=101.0, dbp=66.0, map=78.0)
    state.times.update(spo2=T0, sbp=T0 - 60, dbp=T0 - 60, map=T0 - 60)
    state.flags["spo2"] = frozenset({"low_quality"})
    s = IntelliVueSession("mp", {})
    t = T0
    got: list[Reading] = []
    aborts = 0
    while t < T0 + 14:
        out = s.on_timer(t)
        while out:
            frames = model.receive(out, state, t)
            aborts += sum(_kinds(f) == ["abort"] for f in frames)
            readings, out = s.feed(b"".join(frames), t)
            got += readings
        t += 0.1
    assert aborts == 1 and s.events["abort_received"] == 1
    assert {(r.signal, r.value) for r in got} == {
        ("spo2", 93.0),
        ("sbp", 101.0),
        ("dbp", 66.0),
        ("map", 78.0),
    }
    assert all(r.flags == {"low_quality"} for r in got if r.signal == "spo2")
    assert [r.time for r in got if r.signal == "sbp"] == [T0 - 60]  # once, measurement time
    state.sensor_off = True
    frames = model.receive(encode_frame(extended_poll_request(2, 99, 99)), state, t)
    assert len(frames) == 1 and _kinds(frames[0]) == ["poll_reply"]
    assert IntelliVueDecoder("mp", {}).feed(b"".join(frames), t) == []  # all NaN
    assert model.bad_checksum(frames[0]) != frames[0]
