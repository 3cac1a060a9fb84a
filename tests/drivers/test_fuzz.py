"""Properties every registered driver must have, whatever arrives on the wire.

Parametrised over the registry with no per-driver branches: a new driver is
tested here by adding it (its :class:`drivers.base.DriverSpec` declares its
signals, a sample frame and its simulator model).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import Decoder
from drivers.registry import driver_names, get_driver
from edge.vocabulary import Reading
from tests.drivers.helpers import simulated_stream

NAMES = driver_names()
NOW = 1.0


def decoder(name: str) -> Decoder:
    return get_driver(name).decoder(name, {})


def feed_in_chunks(name: str, data: bytes, cuts: list[int]) -> list[Reading]:
    d = decoder(name)
    got: list[Reading] = []
    i = 0
    for c in cuts:
        got += d.feed(data[i : i + c], now=NOW)
        i += c
    return got + d.feed(data[i:], now=NOW)


@pytest.mark.parametrize("name", NAMES)
def test_the_sample_frame_decodes_to_declared_signals(name: str) -> None:
    spec = get_driver(name)
    d = decoder(name)
    out = d.feed(spec.sample_frame, now=NOW)
    assert out, f"{name}: the sample frame yields no reading"
    assert {r.signal for r in out} <= set(spec.signals)
    assert all(math.isfinite(r.value) for r in out)
    assert not d.rejected


@pytest.mark.parametrize("name", NAMES)
def test_the_sample_frame_byte_by_byte(name: str) -> None:
    sample = get_driver(name).sample_frame
    assert feed_in_chunks(name, sample, [1] * len(sample)) == decoder(name).feed(sample, NOW)


@given(st.sampled_from(NAMES), st.lists(st.integers(1, 64), max_size=40))
def test_chunking_never_changes_the_readings_of_the_sample(name: str, cuts: list[int]) -> None:
    data = get_driver(name).sample_frame * 2
    assert feed_in_chunks(name, data, cuts) == decoder(name).feed(data, now=NOW)


@pytest.mark.parametrize("name", NAMES)
def test_every_driver_has_a_simulator_producing_readings(name: str) -> None:
    assert decoder(name).feed(simulated_stream(name, 6)[0], now=NOW), name


@given(st.sampled_from(NAMES), st.lists(st.integers(1, 64), max_size=40))
def test_chunking_never_changes_the_readings(name: str, cuts: list[int]) -> None:
    data = simulated_stream(name, 6)[0]
    assert feed_in_chunks(name, data, cuts) == decoder(name).feed(data, now=NOW)


@given(st.sampled_from(NAMES), st.data())
def test_corrupted_streams_never_raise(name: str, data: st.DataObject) -> None:
    spec = get_driver(name)
    valid = simulated_stream(name, 6)[0]
    stream = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 10))):
        if not stream:  # deletions took it all (a short frame, e.g. a scale's line)
            break
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        pos = data.draw(st.integers(0, len(stream) - 1))
        if op == "flip":
            stream[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            stream[pos:pos] = data.draw(st.binary(min_size=1, max_size=20))
        else:
            del stream[pos : pos + data.draw(st.integers(1, 10))]
    d = decoder(name)
    out = d.feed(bytes(stream), now=NOW)
    assert all(isinstance(r, Reading) and math.isfinite(r.value) for r in out)
    assert {r.signal for r in out} <= set(spec.signals)
    # and it recovers: a clean stream after the damage decodes in full (frames or
    # packets cut by the damage are lost, never the ones after them)
    d.feed(b"\r\n", now=NOW)
    clean = decoder(name).feed(valid, now=NOW)
    again = d.feed(valid, now=NOW)
    assert again[-len(clean) // 2 :] == clean[-len(clean) // 2 :]


@given(st.sampled_from(NAMES), st.binary(max_size=2000))
def test_every_decoder_survives_random_bytes(name: str, junk: bytes) -> None:
    out = decoder(name).feed(junk, now=NOW)
    assert all(isinstance(r, Reading) and math.isfinite(r.value) for r in out)
    assert {r.signal for r in out} <= set(get_driver(name).signals)


@pytest.mark.parametrize("name", NAMES)
def test_the_sample_frame_counts_as_a_valid_frame(name: str) -> None:
    """``frames`` is the transport's sign of life (a device is online only while it grows)."""
    d = decoder(name)
    d.feed(get_driver(name).sample_frame, now=NOW)
    assert getattr(d, "frames", 0) >= 1


@pytest.mark.parametrize("junk", [b"\x00", b"\xff", b"\x55"], ids=["zeros", "ones", "0x55"])
@pytest.mark.parametrize("name", NAMES)
def test_a_stream_of_garbage_is_counted_as_rejected(name: str, junk: bytes) -> None:
    """What a wrong baud rate looks like (framing errors read as 0x00, idle as 0xff, or a
    pattern): never a valid frame, and always judged: the transport reports it garbled."""
    d = decoder(name)
    assert d.feed(junk * 4000, now=NOW) == []
    assert d.rejected.total() > 0 and getattr(d, "frames", 0) == 0


@pytest.mark.parametrize("name", NAMES)
def test_random_bytes_are_counted_as_rejected(name: str) -> None:
    import random

    d = decoder(name)
    d.feed(random.Random(13).randbytes(4000), now=NOW)
    assert d.rejected.total() > 0
