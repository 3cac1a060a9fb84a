from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.nonin_df2 import FRAME_LEN, NoninSample
from drivers.nonin_df2 import encode as encode_df2
from drivers.nonin_df7 import NoninDf7Decoder, encode, encode_frames

samples = st.builds(
    NoninSample,
    spo2=st.none() | st.integers(0, 100),
    pulse=st.none() | st.integers(0, 400),
    flags=st.frozensets(
        st.sampled_from(["sensor_off", "artifact", "searching", "low_quality", "low_perfusion"])
    ),
)


def values(readings):
    return [(r.signal, r.value, sorted(r.flags)) for r in readings]


def test_documented_frames() -> None:
    frames = encode_frames(NoninSample(97, 72), [0x1234] * 25)
    assert b"".join(frames[:3]).hex(" ") == "83 12 34 00 c9 82 12 34 48 10 82 12 34 61 29"


@given(samples, st.lists(st.integers(0, 0xFFFF), min_size=25, max_size=25))
def test_round_trip(sample: NoninSample, pleth: list[int]) -> None:
    out = NoninDf7Decoder().feed(b"".join(encode_frames(sample, pleth)), now=3.0)
    want = [
        (sig, float(v), sorted(sample.flags))
        for sig, v in (("spo2", sample.spo2), ("pulse", sample.pulse))
        if v is not None
    ]
    assert values(out) == want


def test_bad_frame_spoils_its_packet_and_df2_bytes_are_not_df7() -> None:
    a, b, c = (encode(NoninSample(v, 70)) for v in (90, 91, 92))
    bad = bytearray(b)
    bad[2 * FRAME_LEN + 3] ^= 0x04
    d = NoninDf7Decoder()
    assert [r.value for r in d.feed(a + bytes(bad) + c) if r.signal == "spo2"] == [90.0, 92.0]
    assert d.rejected["checksum"] >= 1
    assert NoninDf7Decoder().feed(encode_df2(NoninSample(95, 60)) * 3) == []


@given(st.binary(max_size=700))
def test_random_bytes_never_raise_then_recover(junk: bytes) -> None:
    d = NoninDf7Decoder()
    d.feed(junk)
    # a junk tail can swallow at most the next packet's start; the one after decodes
    out = d.feed(encode(NoninSample(93, 81)) * 2)
    assert values(out)[-2:] == [("spo2", 93.0, []), ("pulse", 81.0, [])]
