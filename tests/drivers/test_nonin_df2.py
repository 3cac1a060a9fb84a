from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.nonin_df2 import (
    FRAME_LEN,
    NoninDecoder,
    NoninSample,
    encode,
    encode_frames,
    frame,
)
from drivers.simulator import make_model
from tests.drivers.helpers import decode, vital_state

ROUND_TRIP_FLAGS = ["sensor_off", "artifact", "searching", "low_quality", "low_perfusion"]

samples = st.builds(
    NoninSample,
    spo2=st.none() | st.integers(0, 100),
    pulse=st.none() | st.integers(0, 400),
    flags=st.frozensets(st.sampled_from(ROUND_TRIP_FLAGS)),
)


def values(readings):
    return [(r.signal, r.value, sorted(r.flags)) for r in readings]


def test_documented_packet_start() -> None:
    frames = encode_frames(NoninSample(97, 72), pleth=range(0x32, 0x32 + 25))
    assert b"".join(frames[:4]).hex(" ") == (
        "01 83 32 00 b6 01 82 33 48 fe 01 82 34 61 18 01 82 35 00 b8"
    )


def test_one_packet_gives_spo2_and_pulse_stamped_now() -> None:
    out = NoninDecoder("ox").feed(encode(NoninSample(97, 72)), now=1000.0)
    assert values(out) == [("spo2", 97.0, []), ("pulse", 72.0, [])]
    assert {r.time for r in out} == {1000.0} and {r.source for r in out} == {"ox"}


def test_hr_uses_two_msb_bits() -> None:
    out = NoninDecoder().feed(encode(NoninSample(95, 300)))
    assert values(out) == [("spo2", 95.0, []), ("pulse", 300.0, [])]


def test_missing_values_and_status_flags() -> None:
    out = NoninDecoder().feed(encode(NoninSample(None, None, frozenset({"sensor_off"}))))
    assert out == []
    out = NoninDecoder().feed(encode(NoninSample(88, None, frozenset({"artifact"}))))
    assert values(out) == [("spo2", 88.0, ["artifact"])]


def test_yellow_perfusion_is_low_perfusion_green_is_nothing() -> None:
    both = b"".join(
        frame(0x06 | (1 if k == 0 else 0), 0, d) for k, d in enumerate([0, 72, 97] + [0] * 22)
    )
    assert values(NoninDecoder().feed(both))[0] == ("spo2", 97.0, ["low_perfusion"])


def test_frames_before_first_sync_are_skipped() -> None:
    stream = encode(NoninSample(90, 60))
    d = NoninDecoder()
    out = d.feed(stream[7 * FRAME_LEN :] + encode(NoninSample(91, 61)))
    assert values(out) == [("spo2", 91.0, []), ("pulse", 61.0, [])]


def test_bad_frame_spoils_its_packet_only() -> None:
    a, b, c = (encode(NoninSample(v, 70)) for v in (90, 91, 92))
    bad = bytearray(b)
    bad[2 * FRAME_LEN + 3] ^= 0x01  # SpO2 byte of packet b: checksum fails
    d = NoninDecoder()
    out = d.feed(a + bytes(bad) + c)
    assert [r.value for r in out if r.signal == "spo2"] == [90.0, 92.0]
    assert d.rejected["checksum"] == 1
    assert d.rejected["bad_packet"] + d.rejected["short_packet"] == 1


def test_lost_frames_make_a_short_packet() -> None:
    a, b = encode(NoninSample(90, 70)), encode(NoninSample(91, 70))
    d = NoninDecoder()
    out = d.feed(a[: 10 * FRAME_LEN] + b)  # 15 frames of a lost
    assert [r.value for r in out if r.signal == "spo2"] == [91.0]
    assert d.rejected["short_packet"] == 1


@given(samples)
def test_round_trip(sample: NoninSample) -> None:
    out = NoninDecoder().feed(encode(sample), now=5.0)
    want = [
        (sig, float(v), sorted(sample.flags))
        for sig, v in (("spo2", sample.spo2), ("pulse", sample.pulse))
        if v is not None
    ]
    assert values(out) == want


@given(samples, st.integers(1, 124))
def test_any_chunking(sample: NoninSample, cut: int) -> None:
    data = encode(sample) * 2
    d = NoninDecoder()
    assert values(d.feed(data[:cut]) + d.feed(data[cut:])) == values(NoninDecoder().feed(data))


@given(st.binary(max_size=700))
def test_random_bytes_never_raise_then_recover_within_one_packet(junk: bytes) -> None:
    d = NoninDecoder()
    d.feed(junk)
    out = d.feed(encode(NoninSample(93, 81)))
    # A random prefix can at most look like the start of a packet that the real
    # packet's SYNC frame then cuts short: the real packet always decodes.
    assert values(out)[-2:] == [("spo2", 93.0, []), ("pulse", 81.0, [])]


@given(st.lists(samples, min_size=3, max_size=6), st.data())
def test_corrupted_frames_never_yield_readings(drawn, data) -> None:
    """Change one byte in some frames: those packets yield nothing, the rest decode.

    Each packet gets a unique pulse so every reading can be traced to its packet.
    """
    packets = [NoninSample(p.spo2, 100 + i, p.flags) for i, p in enumerate(drawn)]
    stream = bytearray(b"".join(encode(p) for p in packets))
    nframes = len(stream) // FRAME_LEN
    hit = data.draw(st.sets(st.integers(0, nframes - 1), min_size=1, max_size=4))
    for f in hit:
        pos = f * FRAME_LEN + data.draw(st.integers(0, FRAME_LEN - 1))
        stream[pos] ^= data.draw(st.integers(1, 255))
    spoiled = {f // 25 for f in hit}
    d = NoninDecoder()
    out = d.feed(bytes(stream), now=1.0)
    decoded = [int(r.value) - 100 for r in out if r.signal == "pulse"]
    assert not spoiled & set(decoded), "a reading came from a corrupted packet"
    assert decoded == sorted(set(decoded))
    # Recovery within one packet: only the packet right after a spoiled one may be lost.
    for i in range(len(packets)):
        if i not in spoiled and i - 1 not in spoiled:
            assert i in decoded
    want = [
        (sig, float(v), sorted(packets[i].flags))
        for i in decoded
        for sig, v in (("spo2", packets[i].spo2), ("pulse", packets[i].pulse))
        if v is not None
    ]
    assert values(out) == want  # what is decoded is exactly what was sent
    assert d.rejected


def test_nonin_model_sends_one_packet_per_75_frames_per_second() -> None:
    m = make_model("nonin-df2")
    assert m.period_s == 1 / 75
    frames = [f for k in range(50) for f in m.emit(vital_state(spo2=94, pulse=66), k / 75)]
    assert all(len(f) == 5 for f in frames)
    assert [(r.signal, r.value) for r in decode("nonin-df2", frames)] == [
        ("spo2", 94.0),
        ("pulse", 66.0),
        ("spo2", 94.0),
        ("pulse", 66.0),
    ]
