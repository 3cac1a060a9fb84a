"""Properties every registered driver must have, whatever arrives on the wire."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from drivers.registry import driver_names, get_driver
from drivers.simulator import VitalState, make_model
from edge.vocabulary import Reading

#: Drivers whose simulator streams or answers simple polls (session drivers such as
#: IntelliVue have their own session tests; their passive decoders get random bytes).
STREAMING = [n for n in driver_names() if get_driver(n).session is None]


def valid_stream(driver: str, n: int = 6) -> bytes:
    """``n`` frames/answers of the driver's own simulator: real protocol bytes."""
    model = make_model(driver)
    state = VitalState()
    for i, (sig, v) in enumerate(
        [
            ("spo2", 95),
            ("pulse", 70),
            ("pi", 3.2),
            ("sbp", 120),
            ("map", 90),
            ("dbp", 75),
            ("weight", 71.5),
        ]
    ):
        state.update(Reading.of(sig, v, time=1.7e9 + i))
    out: list[bytes] = []
    t = 1.7e9
    session = get_driver(driver).session
    receive = getattr(model, "receive", None)
    if session is not None and receive is not None:  # a session protocol: talk to it
        host = session(driver, {})
        while len(out) < n + 2:  # association response, MDS create event, n poll replies
            tx = host.on_timer(t)
            while tx:
                frames = receive(tx, state, t)
                out += frames
                _, tx = host.feed(b"".join(frames), t)
            t += 0.05
        return b"".join(out)
    for k in range(n):
        if model.period_s is not None:
            steps = 25 if driver.startswith("nonin") else 1
            for _ in range(steps):
                out += model.emit(state, t)
                t += model.period_s
        else:
            r = Reading.of("weight", 70 + k, time=t)
            out += model.on_reading(state, r, t)
            for sig in ("sbp", "map", "dbp"):
                out += model.on_reading(state, Reading.of(sig, 100 + k, time=t), t)
            out += model.answer(b"P" if driver == "accutorr" else b"S", state, t + 60)
            t += 60
    return b"".join(out)


def test_every_driver_has_a_simulator_producing_readings() -> None:
    for name in STREAMING:
        d = get_driver(name).decoder(name, {})
        assert d.feed(valid_stream(name), now=1.0), name


@given(st.sampled_from(STREAMING), st.lists(st.integers(1, 64), max_size=40))
def test_chunking_never_changes_the_readings(name: str, cuts: list[int]) -> None:
    data = valid_stream(name)
    whole = get_driver(name).decoder(name, {}).feed(data, now=1.0)
    d = get_driver(name).decoder(name, {})
    got: list[Reading] = []
    i = 0
    for c in cuts:
        got += d.feed(data[i : i + c], now=1.0)
        i += c
    got += d.feed(data[i:], now=1.0)
    assert got == whole


@given(st.sampled_from(STREAMING), st.data())
def test_corrupted_streams_never_raise(name: str, data: st.DataObject) -> None:
    stream = bytearray(valid_stream(name))
    for _ in range(data.draw(st.integers(1, 10))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        pos = data.draw(st.integers(0, len(stream) - 1))
        if op == "flip":
            stream[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            stream[pos:pos] = data.draw(st.binary(min_size=1, max_size=20))
        else:
            del stream[pos : pos + data.draw(st.integers(1, 10))]
    d = get_driver(name).decoder(name, {})
    out = d.feed(bytes(stream), now=1.0)
    assert all(isinstance(r, Reading) and math.isfinite(r.value) for r in out)
    # and it recovers: a clean stream after the damage decodes in full (frames or
    # packets cut by the damage are lost, never the ones after them)
    d.feed(b"\r\n", now=1.0)
    clean = get_driver(name).decoder(name, {}).feed(valid_stream(name), now=1.0)
    again = d.feed(valid_stream(name), now=1.0)
    assert again[-len(clean) // 2 :] == clean[-len(clean) // 2 :]


@given(st.sampled_from(driver_names()), st.binary(max_size=2000))
def test_every_decoder_survives_random_bytes(name: str, junk: bytes) -> None:
    d = get_driver(name).decoder(name, {})
    out = d.feed(junk, now=1.0)
    assert all(isinstance(r, Reading) and math.isfinite(r.value) for r in out)
