from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.nonin_df1 import NoninDf1Decoder, encode
from drivers.nonin_df2 import NoninSample

samples = st.builds(
    NoninSample,
    spo2=st.none() | st.integers(0, 100),
    pulse=st.none() | st.integers(0, 400),
    flags=st.frozensets(
        st.sampled_from(["sensor_off", "searching", "low_perfusion", "low_quality", "artifact"])
    ),
)


def values(readings):
    return [(r.signal, r.value, sorted(r.flags)) for r in readings]


def test_documented_frames() -> None:
    out = NoninDf1Decoder("ox").feed(bytes.fromhex("804861 c22c7f"), now=9.0)
    assert values(out) == [
        ("spo2", 97.0, []),
        ("pulse", 72.0, []),
        ("pulse", 300.0, ["sensor_off"]),
    ]
    assert {r.time for r in out} == {9.0}


@given(samples)
def test_round_trip(sample: NoninSample) -> None:
    want = [
        (sig, float(v), sorted(sample.flags))
        for sig, v in (("spo2", sample.spo2), ("pulse", sample.pulse))
        if v is not None
    ]
    assert values(NoninDf1Decoder().feed(encode(sample))) == want


def test_resync_on_a_status_byte_in_a_data_position() -> None:
    d = NoninDf1Decoder()
    out = d.feed(b"\x80\x48" + encode(NoninSample(95, 70)))  # a frame cut short
    assert values(out) == [("spo2", 95.0, []), ("pulse", 70.0, [])]
    assert d.rejected["sync"] == 1


@given(st.binary(max_size=200))
def test_random_bytes_never_raise_and_recover_within_one_frame(junk: bytes) -> None:
    d = NoninDf1Decoder()
    d.feed(junk)
    assert values(d.feed(encode(NoninSample(93, 81)))) == [("spo2", 93.0, []), ("pulse", 81.0, [])]
